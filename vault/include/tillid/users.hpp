// The appliance's users: each has one role (firmware/AUTHZ.md) and, for a local user, the
// uid the kernel reports for them (SO_PEERCRED). The roster is kept in the vault, signed with
// the appliance key so the daemon can check it while the vault is locked (FORMAT.md §8).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tillid {

enum class Role { admin, staff, caseworker, auditor };

std::string_view to_string(Role role);  // "admin" | "staff" | "caseworker" | "auditor"
std::optional<Role> parse_role(std::string_view name);

struct User {
  std::string name;                 // [a-z0-9._-]{1,32}, unique; the log's actor id
  Role role = Role::staff;
  std::optional<unsigned> uid;      // a local user's uid; none for a remote caseworker
  std::string municipality;         // caseworkers only: the municipality code they serve
  std::int64_t created_unix = 0;
  bool revoked = false;
};

struct NewUser {
  std::string name;
  Role role = Role::staff;
  std::optional<unsigned> uid;
  std::string municipality;
};

}  // namespace tillid
