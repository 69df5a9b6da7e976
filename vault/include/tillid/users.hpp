// The appliance's users: each has one role (firmware/AUTHZ.md) and, for a local user, the
// uid the kernel reports for them (SO_PEERCRED). The roster is kept in the vault, signed with
// the appliance key so the daemon can check it while the vault is locked (FORMAT.md §8).
#pragma once

#include <array>
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

// A caseworker's or auditor's device, enrolled over the channel with a one-time code
// (firmware/PROTOCOL.md §6). Each purpose has its own key pair (FORMAT.md §9): the Noise
// static key identifies the device on the channel, shares seal content keys to the box key
// (crypto_box_seal), and an auditor device cosigns checkpoints with the signing key. Kept in
// the signed roster, so the daemon checks a device while the vault is locked.
using DeviceKey = std::array<unsigned char, 32>;
struct Device {
  std::string id;          // 16 hex characters, random; the log's item-less reference to it
  std::string user;        // the roster user it belongs to (caseworker or auditor)
  std::string label;       // [A-Za-z0-9._ -]{0,32}, the device's own name for itself
  DeviceKey noise_key{};   // X25519, Noise static key
  DeviceKey box_key{};     // X25519, crypto_box_seal recipient for shares
  DeviceKey sign_key{};    // Ed25519, cosignatures (C2SP tlog-cosignature v1)
  std::int64_t created_unix = 0;
  bool revoked = false;
};

struct NewDevice {
  std::string user;
  std::string label;
  DeviceKey noise_key{}, box_key{}, sign_key{};
};

}  // namespace tillid
