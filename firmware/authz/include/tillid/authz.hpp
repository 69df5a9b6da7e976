// The appliance's one authorisation matrix: which role may run which control operation, and
// over what (firmware/AUTHZ.md holds the same table; a test keeps the two equal). The daemon
// calls authorize() in exactly one place, its dispatcher, and logs every Decision.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tillid/users.hpp"

namespace tillid::authz {

// What an allowed operation reaches (AUTHZ.md §2). `none`: the role may not run it.
enum class Scope {
  none,
  appliance,  // the appliance itself: lock state, key slots, users, integrity, the running desk
  centre,     // this centre's cases and items in this appliance's vault (content)
  log,        // the access log, for an auditor
};
std::string_view to_string(Scope scope);  // "-" | "appliance" | "centre" | "log"

// One control operation (firmware/CONTROL-PROTOCOL.md) and each role's scope for it.
struct Rule {
  std::string_view op;
  Scope admin = Scope::none;
  Scope staff = Scope::none;
  Scope caseworker = Scope::none;
  Scope auditor = Scope::none;
  Scope scope_for(Role role) const;
  bool operator==(const Rule&) const = default;
};

// Every operation, in AUTHZ.md's order. Anything not here is refused for everyone.
const std::vector<Rule>& matrix();
const Rule* find_rule(std::string_view op);

struct Decision {
  bool allowed = false;
  std::string reason;  // why it was refused (empty when allowed); never identifying
  Scope scope = Scope::none;
};

// `who`: the enrolled, non-revoked user the kernel's peer uid maps to, or nullopt for a uid
// that is not enrolled. A revoked user is refused too, whoever passes one in.
Decision authorize(const std::optional<User>& who, std::string_view op);

// The authz_decision log entry's details (LOG-FORMAT.md §2, code 70): "op <op>", plus
// ": <reason>" when refused. An op not in the matrix is written as "op (unknown)": the
// client's text never reaches the log.
std::string log_details(std::string_view op, const Decision& decision);

}  // namespace tillid::authz
