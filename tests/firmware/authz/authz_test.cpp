// The authorisation matrix: firmware/AUTHZ.md's tables parsed and compared with the code's,
// cell for cell, so the document and the enforcement cannot drift; then authorize() on every
// role × operation, on unknown users, revoked users and unknown operations, checked against
// the principles rather than against the table itself.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tillid/access_log.hpp"
#include "tillid/authz.hpp"

using namespace tillid;
using authz::Scope;

namespace {

constexpr Role kRoles[] = {Role::admin, Role::staff, Role::caseworker, Role::auditor};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '`' && s.back() == '`') return s.substr(1, s.size() - 2);
  return s;
}

// "| a | b |" -> {"a", "b"}
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  REQUIRE(line.size() >= 2);
  REQUIRE(line.front() == '|');
  REQUIRE(line.back() == '|');
  std::stringstream ss(line.substr(1, line.size() - 2));
  for (std::string c; std::getline(ss, c, '|');) out.push_back(trim(c));
  return out;
}

// The rows of the Markdown table whose header is exactly `header` (there must be one).
std::vector<std::vector<std::string>> table(const std::vector<std::string>& lines, const std::string& header) {
  std::vector<std::vector<std::string>> rows;
  std::size_t found = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] != header) continue;
    ++found;
    REQUIRE(i + 1 < lines.size());
    REQUIRE(lines[i + 1].rfind("|---", 0) == 0);
    const std::size_t width = cells(header).size();
    for (std::size_t j = i + 2; j < lines.size() && !lines[j].empty() && lines[j].front() == '|'; ++j) {
      auto row = cells(lines[j]);
      INFO(lines[j]);
      REQUIRE(row.size() == width);
      rows.push_back(row);
    }
  }
  REQUIRE(found == 1);
  return rows;
}

Scope parse_scope(const std::string& cell) {
  if (cell == "-") return Scope::none;
  if (cell == "appliance") return Scope::appliance;
  if (cell == "centre") return Scope::centre;
  if (cell == "log") return Scope::log;
  FAIL("AUTHZ.md has a cell that is not a scope: '" << cell << "'");
  return Scope::none;
}

const std::vector<std::string>& authz_md() {
  static const std::vector<std::string> lines = read_lines(std::string(TILLID_SOURCE_DIR) + "/firmware/AUTHZ.md");
  return lines;
}

User user(Role role, bool revoked = false) {
  return User{"someone", role, 61001u, role == Role::caseworker ? "0101" : "", 1, revoked};
}

}  // namespace

TEST_CASE("authz: AUTHZ.md's matrix is the code's matrix, cell for cell", "[authz]") {
  // Column order is the Role enum's; the header pins it.
  auto rows = table(authz_md(), "| op | admin | staff | caseworker | auditor |");
  const auto& code = authz::matrix();
  REQUIRE(rows.size() == code.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    INFO("AUTHZ.md row " << i << ": " << r[0]);
    const std::string op = unquote(r[0]);
    CHECK(op == code[i].op);
    CHECK(parse_scope(r[1]) == code[i].admin);
    CHECK(parse_scope(r[2]) == code[i].staff);
    CHECK(parse_scope(r[3]) == code[i].caseworker);
    CHECK(parse_scope(r[4]) == code[i].auditor);
  }
  // Every op once.
  std::map<std::string_view, int> seen;
  for (const auto& rule : code) CHECK(++seen[rule.op] == 1);
}

TEST_CASE("authz: AUTHZ.md's refusal reasons are the ones authorize() gives", "[authz]") {
  std::map<std::string, std::string> doc;
  for (const auto& r : table(authz_md(), "| case | reason |")) doc[r[0]] = unquote(r[1]);
  CHECK(doc.size() == 7);
  CHECK(authz::authorize(std::nullopt, "status").reason == doc.at("uid not enrolled"));
  CHECK(authz::authorize(user(Role::staff, true), "ls").reason == doc.at("revoked user"));
  CHECK(authz::authorize(user(Role::staff), "no.such.op").reason == doc.at("operation not in the table"));
  CHECK(authz::authorize(user(Role::admin), "get").reason == doc.at("admin, cell `-`"));
  CHECK(authz::authorize(user(Role::staff), "key.add").reason == doc.at("staff, cell `-`"));
  CHECK(authz::authorize(user(Role::caseworker), "status").reason == doc.at("caseworker"));
  CHECK(authz::authorize(user(Role::auditor), "ls").reason == doc.at("auditor, cell `-`"));
}

TEST_CASE("authz: authorize() on every role and operation follows the matrix", "[authz]") {
  std::size_t allowed = 0, refused = 0;
  for (const auto& rule : authz::matrix()) {
    for (Role role : kRoles) {
      INFO(rule.op << " as " << to_string(role));
      const auto d = authz::authorize(user(role), rule.op);
      const Scope want = rule.scope_for(role);
      CHECK(d.allowed == (want != Scope::none));
      CHECK(d.scope == want);
      CHECK(d.reason.empty() == d.allowed);
      (d.allowed ? allowed : refused)++;
      // Revoked: nothing, whatever the role.
      const auto r = authz::authorize(user(role, true), rule.op);
      CHECK_FALSE(r.allowed);
      CHECK(r.scope == Scope::none);
    }
    // A uid that is not enrolled: nothing.
    const auto n = authz::authorize(std::nullopt, rule.op);
    CHECK_FALSE(n.allowed);
    CHECK(n.reason == "not an enrolled user");
  }
  // 24 operations × 4 roles; the allowed cells counted by hand from the table.
  CHECK(allowed + refused == 96);
  CHECK(allowed == 32);
}

TEST_CASE("authz: the issue's principles hold for every operation", "[authz]") {
  for (const auto& rule : authz::matrix()) {
    INFO(rule.op);
    // Admins never reach content.
    CHECK(rule.admin != Scope::centre);
    // Auditors reach the log, or only see whether the appliance is up.
    CHECK((rule.auditor == Scope::none || rule.auditor == Scope::log || rule.op == "status"));
    // Caseworkers get nothing locally.
    CHECK(rule.caseworker == Scope::none);
    // Staff never manage keys or users, never read the log.
    if (rule.op.rfind("key.", 0) == 0 || rule.op.rfind("user.", 0) == 0 || rule.op.rfind("audit.", 0) == 0)
      CHECK(rule.staff == Scope::none);
    // Only staff work with content.
    if (rule.staff == Scope::centre) CHECK((rule.admin == Scope::none || rule.op == "verify" || rule.op == "record.status"));
  }
  for (const char* content : {"get", "export", "ls", "case.ls", "case.add", "doc.add", "record.show", "record.start"}) {
    INFO(content);
    CHECK_FALSE(authz::authorize(user(Role::admin), content).allowed);
    CHECK_FALSE(authz::authorize(user(Role::auditor), content).allowed);
    CHECK(authz::authorize(user(Role::staff), content).allowed);
  }
  CHECK(authz::authorize(user(Role::auditor), "audit.log").allowed);
  CHECK_FALSE(authz::authorize(user(Role::admin), "audit.log").allowed);
  for (const char* manage : {"user.add", "user.revoke", "key.add", "key.remove"}) {
    CHECK(authz::authorize(user(Role::admin), manage).allowed);
    CHECK_FALSE(authz::authorize(user(Role::staff), manage).allowed);
  }
}

TEST_CASE("authz: an operation not in the matrix is refused for everyone, and never echoed to the log", "[authz]") {
  const std::string nul_op("ls\0", 3);
  const std::string long_op(10000, 'a');
  for (std::string_view op : {std::string_view(""), std::string_view("LS"), std::string_view("ls "),
                              std::string_view(nul_op), std::string_view("user.add.x"), std::string_view("key"),
                              std::string_view("010203-4455"), std::string_view(long_op)}) {
    for (Role role : kRoles) {
      const auto d = authz::authorize(user(role), op);
      CHECK_FALSE(d.allowed);
      CHECK(d.reason == "unknown operation");
      CHECK(authz::log_details(op, d) == "op (unknown): unknown operation");
    }
  }
}

TEST_CASE("authz: every decision's log details fit the access log's bounds", "[authz]") {
  auto fits = [](const std::string& details) {
    INFO(details);
    CHECK(validate(LogEvent{"someone", "staff", LogAction::authz_decision, LogOutcome::refused, "", "", details}).ok());
  };
  for (const auto& rule : authz::matrix()) {
    for (Role role : kRoles) {
      const auto d = authz::authorize(user(role), rule.op);
      const std::string details = authz::log_details(rule.op, d);
      CHECK(details.rfind("op " + std::string(rule.op), 0) == 0);
      CHECK(details == (d.allowed ? "op " + std::string(rule.op) : "op " + std::string(rule.op) + ": " + d.reason));
      fits(details);
    }
    fits(authz::log_details(rule.op, authz::authorize(std::nullopt, rule.op)));
  }
  fits(authz::log_details("x", authz::authorize(std::nullopt, "x")));
}
