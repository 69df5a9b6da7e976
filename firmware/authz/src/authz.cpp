// The authorisation matrix and authorize(): see tillid/authz.hpp and firmware/AUTHZ.md.
#include "tillid/authz.hpp"

namespace tillid::authz {

namespace {

constexpr Scope N = Scope::none;
constexpr Scope A = Scope::appliance;
constexpr Scope C = Scope::centre;
constexpr Scope L = Scope::log;

// AUTHZ.md §1, row for row (the test parses that table and compares). Columns: admin, staff,
// caseworker, auditor. Admins manage users, keys and the appliance but never read content;
// staff record, add, read and export the centre's items; auditors read the log; caseworkers
// have nothing here (the channel of issue 12 serves them).
const std::vector<Rule> kMatrix = {
    {"status", A, A, N, A},
    {"unlock", A, A, N, N},
    {"lock", A, A, N, N},
    {"key.add", A, N, N, N},
    {"key.ls", A, N, N, N},
    {"key.remove", A, N, N, N},
    {"user.add", A, N, N, N},
    {"user.ls", A, N, N, N},
    {"user.revoke", A, N, N, N},
    {"case.add", N, C, N, N},
    {"case.ls", N, C, N, N},
    {"doc.add", N, C, N, N},
    {"ls", N, C, N, N},
    {"get", N, C, N, N},
    {"verify", A, C, N, N},
    {"export", N, C, N, N},
    {"record.start", N, C, N, N},
    {"record.status", A, C, N, N},
    {"record.mark", N, C, N, N},
    {"record.stop", N, C, N, N},
    {"record.show", N, C, N, N},
    {"audit.key", L, N, N, L},
    {"audit.checkpoint", L, N, N, L},
    {"audit.log", N, N, N, L},
};

// Why a role is refused an operation in the matrix: the role's whole brief, so the person
// refused learns what the role is for (AUTHZ.md §3). Short, fixed text: it goes into the log.
std::string_view role_limit(Role role) {
  switch (role) {
    case Role::admin: return "admins manage users, keys and the appliance, never content";
    case Role::staff: return "staff work with the centre's cases and items, not with keys, users or the log";
    case Role::caseworker: return "caseworkers are served by the channel, not on the appliance";
    case Role::auditor: return "auditors read the access log only";
  }
  return "not allowed";
}

Decision refuse(std::string reason) { return Decision{false, std::move(reason), Scope::none}; }

}  // namespace

std::string_view to_string(Scope scope) {
  switch (scope) {
    case Scope::none: return "-";
    case Scope::appliance: return "appliance";
    case Scope::centre: return "centre";
    case Scope::log: return "log";
  }
  return "-";
}

Scope Rule::scope_for(Role role) const {
  switch (role) {
    case Role::admin: return admin;
    case Role::staff: return staff;
    case Role::caseworker: return caseworker;
    case Role::auditor: return auditor;
  }
  return Scope::none;
}

const std::vector<Rule>& matrix() { return kMatrix; }

const Rule* find_rule(std::string_view op) {
  for (const auto& r : kMatrix)
    if (r.op == op) return &r;
  return nullptr;
}

Decision authorize(const std::optional<User>& who, std::string_view op) {
  // Order matters only for the reason given: the caller learns the first thing wrong.
  if (!who) return refuse("not an enrolled user");
  if (who->revoked) return refuse("the user is revoked");
  const Rule* rule = find_rule(op);
  if (!rule) return refuse("unknown operation");
  const Scope scope = rule->scope_for(who->role);
  if (scope == Scope::none) return refuse(std::string(role_limit(who->role)));
  return Decision{true, "", scope};
}

std::string log_details(std::string_view op, const Decision& decision) {
  std::string out = find_rule(op) ? "op " + std::string(op) : std::string("op (unknown)");
  if (!decision.allowed) out += ": " + decision.reason;
  return out;
}

}  // namespace tillid::authz
