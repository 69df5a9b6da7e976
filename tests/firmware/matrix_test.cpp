// The whole authorisation matrix (firmware/AUTHZ.md) walked through the real daemon: every
// operation, as every role, as a uid that is not enrolled and as a revoked user, each from its
// own uid over the control socket (the kernel names the caller, SO_PEERCRED). Each reply must
// be what the matrix says (refused: `denied` with the matrix's reason; allowed: the operation
// ran), and the access log, read after the daemon stopped, must hold one authz_decision entry
// per request, in order, naming that user and role with the right outcome. Needs root.
#include <functional>

#include "daemon/daemon_harness.hpp"
#include "tillid/authz.hpp"

namespace tillid::test {
namespace {

using nlohmann::json;

// Someone the walk acts as. `user` is what the daemon finds for the uid (none: not enrolled,
// or revoked), hence what authorize() decides on.
struct Who {
  std::string label;
  unsigned uid;
  std::string actor_id, actor_role;  // as the log must name them
  std::optional<User> user;
};

User enrolled(std::string name, Role role, unsigned uid, std::string municipality = {}) {
  return User{std::move(name), role, uid, std::move(municipality), 0, false};
}

Who as_user(const User& u) {
  return Who{u.name, *u.uid, u.name, std::string(to_string(u.role)), u};
}
Who not_enrolled(std::string label, unsigned uid) {
  return Who{std::move(label), uid, "uid:" + std::to_string(uid), "none", std::nullopt};
}

// Counts what a streamed reply delivered; the bytes themselves are not the point here.
class Counter : public control::Receiver {
 public:
  Result<void> on_file(const std::string&, std::uint64_t) override {
    ++files_;
    return {};
  }
  Result<void> on_data(std::span<const unsigned char> bytes) override {
    bytes_ += bytes.size();
    return {};
  }
  Result<void> on_end() override { return {}; }
  json summary() const { return {{"files", files_}, {"bytes", bytes_}}; }

 private:
  std::size_t files_ = 0, bytes_ = 0;
};

// One request as `uid`, from a forked child that drops to that uid (setresgid/setresuid)
// before it connects; input and output streams as the op's spec says. The reply comes back
// through a pipe as {"ok":true,"result","received"} or {"ok":false,"code","message"}.
json request_as(unsigned uid, const fs::path& socket, const std::string& op, const json& args) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(3);
    json out;
    try {
      const control::OpSpec* spec = control::find_op(op);
      const std::string payload = "matrix walk document\n";
      std::size_t sent = 0;
      ByteSource input = [&](std::span<unsigned char> buf) -> Result<std::size_t> {
        const std::size_t n = std::min(buf.size(), payload.size() - sent);
        std::copy_n(payload.data() + sent, n, buf.data());
        sent += n;
        return n;
      };
      Counter counter;
      auto c = control::ControlClient::connect(socket);
      Result<json> r = c ? c->call(op, args, spec && spec->input == control::Input::required ? &input : nullptr,
                                   spec && spec->output != control::Output::none ? &counter : nullptr)
                         : Result<json>(c.error());
      if (r) out = {{"ok", true}, {"result", *r}, {"received", counter.summary()}};
      else out = {{"ok", false}, {"code", to_string(r.error().code)}, {"message", r.error().message}};
    } catch (const std::exception&) {
      ::_exit(5);
    }
    const std::string text = out.dump();
    const ssize_t n = ::write(fds[1], text.data(), text.size());
    ::_exit(n == static_cast<ssize_t>(text.size()) ? 0 : 4);
  }
  ::close(fds[1]);
  const std::string text = slurp_fd(fds[0]);
  ::close(fds[0]);
  const int rc = wait_exit(pid);
  if (rc == 3) FAIL("cannot switch to uid " << uid << ": the matrix walk needs root");
  REQUIRE(rc == 0);
  return json::parse(text);
}

// The walk: every request goes through call(), which checks the reply against the matrix and
// remembers the authz_decision entry the log must hold for it.
class Walk {
 public:
  explicit Walk(const fs::path& socket) : socket_(socket) {}

  struct Expected {
    std::string actor_id, actor_role;
    LogOutcome outcome;
    std::string details;
  };

  // `allowed_code`: the error an allowed request must end with (the walk asks some allowed
  // ops for something absent, so that they change nothing); empty: it must succeed.
  json call(const Who& who, const std::string& op, const json& args, const std::string& allowed_code = "") {
    const authz::Decision d = authz::authorize(who.user, op);
    INFO(op << " as " << who.label << " (uid " << who.uid << ")");
    json reply = request_as(who.uid, socket_, op, args);
    INFO(reply.dump());
    if (!d.allowed) {
      CHECK(reply["ok"] == false);
      CHECK(reply["code"] == "denied");
      CHECK(reply.value("message", "").find(d.reason) != std::string::npos);
    } else if (allowed_code.empty()) {
      CHECK(reply["ok"] == true);
    } else {
      CHECK(reply["ok"] == false);
      CHECK(reply["code"] == allowed_code);
    }
    expected_.push_back({who.actor_id, who.actor_role, d.allowed ? LogOutcome::ok : LogOutcome::refused,
                         authz::log_details(op, d)});
    return reply;
  }

  const std::vector<Expected>& expected() const { return expected_; }

 private:
  fs::path socket_;
  std::vector<Expected> expected_;
};

}  // namespace

TEST_CASE("the authorisation matrix, walked through the real daemon: every role × op, its reply and its log entry",
          "[daemon][authz][matrix]") {
  if (::geteuid() != 0) FAIL("the matrix walk needs root: it acts as uids 61001-61005 (plan-i11 test harness)");
  DaemonVault dv;  // the test process (root) ran init: it is the admin "admin"
  const Who admin = as_user(enrolled("admin", Role::admin, ::getuid()));
  const Who staff = as_user(enrolled("staff1", Role::staff, 61001));
  const Who auditor = as_user(enrolled("auditor1", Role::auditor, 61002));
  const Who caseworker = as_user(enrolled("cw1", Role::caseworker, 61003, "0101"));
  const Who stranger = not_enrolled("not enrolled", 61004);
  const Who revoked = not_enrolled("revoked", 61005);  // user_by_uid never returns a revoked user
  const std::vector<const Who*> everyone = {&admin, &staff, &caseworker, &auditor, &stranger, &revoked};

  Walk walk(dv.socket);
  {
    DaemonProcess daemon(dv);
    // Setting the scene, through the same checked path.
    walk.call(admin, "unlock", {{"passphrase", kPassphrase}});
    for (const Who* w : {&staff, &auditor, &caseworker}) {
      json args = {{"name", w->actor_id}, {"role", w->actor_role}, {"uid", w->uid}};
      if (!w->user->municipality.empty()) args["municipality"] = w->user->municipality;
      walk.call(admin, "user.add", args);
    }
    walk.call(admin, "user.add", {{"name", "gone"}, {"role", "staff"}, {"uid", revoked.uid}});
    walk.call(admin, "user.revoke", {{"name", "gone"}});
    const json case_args = {{"number", "M-1"}, {"municipality", "0101"}, {"child_name", "Test Child"}, {"cpr", ""}, {"notes", ""}};
    walk.call(staff, "case.add", case_args);
    const json doc = walk.call(staff, "doc.add", {{"case", "M-1"}, {"title", "statement"}, {"file_name", "statement.txt"}});
    REQUIRE(doc["ok"] == true);
    const std::string doc_id = doc["result"]["id"];
    std::string recording_id;

    std::size_t cells_walked = 0;
    // Arguments that let an allowed request do its work without spoiling the walk's state.
    int n = 0;
    auto args_for = [&](const std::string& op, const Who& who) -> std::pair<json, std::string> {
      ++n;
      if (op == "unlock") return {{{"passphrase", kPassphrase}}, ""};
      if (op == "key.add")
        return {{{"passphrase", "matrix walk extra passphrase"}, {"label", "extra-" + std::to_string(n)}, {"kdf", "minimum"}}, ""};
      if (op == "key.remove") return {{{"slot", 999}}, "not_found"};
      if (op == "user.add")
        return {{{"name", "added-" + std::to_string(n)}, {"role", "auditor"}, {"uid", 62000 + n}}, ""};
      if (op == "user.revoke") return {{{"name", "no-such-user"}}, "not_found"};
      if (op == "case.add") {
        json a = case_args;
        a["number"] = "M-" + std::to_string(100 + n);
        return {a, ""};
      }
      if (op == "doc.add") return {{{"case", "M-1"}, {"title", "t"}, {"file_name", "f.txt"}}, ""};
      if (op == "get" || op == "export") return {{{"item", doc_id}}, ""};
      if (op == "record.start")
        return {{{"case", "M-1"}, {"interviewer", "Interviewer One"}, {"title", "interview"}, {"source", "tone:440?realtime=1"}}, ""};
      if (op == "record.mark") return {{{"label", "mark " + who.label}}, ""};
      if (op == "record.show") return {{{"item", recording_id}}, ""};
      return {json::object(), ""};
    };

    for (const auto& rule : authz::matrix()) {
      const std::string op(rule.op);
      for (const Who* who : everyone) {
        // The matrix's cell itself, not only authorize()'s word: a role gets what its column
        // says, and nobody (not enrolled, revoked) gets anything.
        const bool cell = who->user && rule.scope_for(who->user->role) != authz::Scope::none;
        CHECK(authz::authorize(who->user, op).allowed == cell);
        ++cells_walked;
        auto [args, allowed_code] = args_for(op, *who);
        json reply = walk.call(*who, op, args, allowed_code);
        if (reply["ok"] != true) continue;
        if (op == "record.start") recording_id = reply["result"]["item_id"];
        if (op == "get" || op == "audit.log") CHECK(reply["received"]["bytes"] > 0);
        if (op == "export" || op == "audit.log") CHECK(reply["received"]["files"] > 0);
        if (op == "status") CHECK(reply["result"]["user"]["name"] == who->actor_id);
        if (op == "lock") walk.call(admin, "unlock", {{"passphrase", kPassphrase}});  // back for the next cell
      }
    }
    // Every cell was tried, by every role and by both kinds of nobody.
    CHECK(cells_walked == authz::matrix().size() * everyone.size());
    REQUIRE(daemon.terminate(std::chrono::seconds(5)) == 0);
  }

  // The log, read with the daemon stopped: one authz_decision per request, in order, for the
  // authenticated user and role, with the matrix's outcome and the op (and reason) named.
  const auto log = dv.log_entries();
  std::vector<LogEntry> decisions;
  for (const auto& e : log)
    if (e.action == LogAction::authz_decision) decisions.push_back(e);
  const auto& want = walk.expected();
  REQUIRE(decisions.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("request " << i << ": " << want[i].details << " by " << want[i].actor_id);
    CHECK(decisions[i].actor_id == want[i].actor_id);
    CHECK(decisions[i].actor_role == want[i].actor_role);
    CHECK(decisions[i].outcome == want[i].outcome);
    CHECK(decisions[i].details == want[i].details);
  }
  // And the log those entries are in verifies, with nothing quarantined: the daemon wrote them.
  std::string key;
  {
    auto v = Vault::open(dv.vault, Actor{});
    REQUIRE(v.ok());
    key = v->log_verifier_key();
  }
  auto report = verify_log(dv.vault / "log", key);
  REQUIRE(report.ok());
  CHECK(report->clean());
  for (const auto& q : report->quarantined)
    for (const auto& e : log)
      if (q.contains(e.seq)) UNSCOPED_INFO("quarantined: seq " << e.seq << " " << to_string(e.action) << " by " << e.actor_id << " " << e.details);
  CHECK(report->quarantined.empty());
}

}  // namespace tillid::test
