// The users roster's encoding, signature and storage: see users_roster.hpp and FORMAT.md §8.
#include "users_roster.hpp"

#include <algorithm>

namespace tillid::detail {

namespace {

constexpr std::string_view kRosterTag = "tillid.roster.v1";
// More users than an advocacy centre has staff by two orders of magnitude; a bound so a
// damaged count cannot make decode reserve gigabytes.
constexpr std::uint32_t kMaxUsers = 10000;
constexpr std::uint32_t kNoUid = 0xFFFFFFFFu;  // (uid_t)-1 is "no uid" to the kernel too

std::uint8_t role_code(Role r) {
  switch (r) {
    case Role::admin: return 1;
    case Role::staff: return 2;
    case Role::caseworker: return 3;
    case Role::auditor: return 4;
  }
  return 0;
}

std::optional<Role> role_from_code(std::uint8_t c) {
  switch (c) {
    case 1: return Role::admin;
    case 2: return Role::staff;
    case 3: return Role::caseworker;
    case 4: return Role::auditor;
    default: return std::nullopt;
  }
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 32) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

bool valid_municipality(std::string_view m) {
  return m.size() == 4 && std::all_of(m.begin(), m.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void put_lstr(std::vector<unsigned char>& out, std::string_view s) {
  put_u32le(out, static_cast<std::uint32_t>(s.size()));
  put_str(out, s);
}

// A bounds-checked reader over the stored bytes; every short read is a corrupt roster.
class Reader {
 public:
  explicit Reader(std::span<const unsigned char> b) : b_(b) {}
  bool take(std::size_t n, const unsigned char*& p) {
    if (b_.size() - pos_ < n) return false;
    p = b_.data() + pos_;
    pos_ += n;
    return true;
  }
  bool u8(std::uint8_t& v) {
    const unsigned char* p;
    if (!take(1, p)) return false;
    v = *p;
    return true;
  }
  bool u32(std::uint32_t& v) {
    const unsigned char* p;
    if (!take(4, p)) return false;
    v = get_u32le(p);
    return true;
  }
  bool u64(std::uint64_t& v) {
    const unsigned char* p;
    if (!take(8, p)) return false;
    v = get_u64le(p);
    return true;
  }
  bool lstr(std::string& s, std::uint32_t max) {
    std::uint32_t n;
    const unsigned char* p;
    if (!u32(n) || n > max || !take(n, p)) return false;
    s.assign(reinterpret_cast<const char*>(p), n);
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::span<const unsigned char> b_;
  std::size_t pos_ = 0;
};

Result<void> put_meta(Db& db, const char* key, std::span<const unsigned char> value) {
  TILLID_ASSIGN(Stmt st, db.prepare("INSERT OR REPLACE INTO vault_meta (key, value) VALUES (?, ?)",
                                    "cannot store the users roster"));
  st.bind(1, std::string_view(key)).bind_blob(2, value);
  return st.run();
}

Result<std::optional<std::vector<unsigned char>>> get_meta(Db& db, const char* key) {
  TILLID_ASSIGN(Stmt st, db.prepare("SELECT value FROM vault_meta WHERE key = ?", "cannot read the users roster"));
  st.bind(1, std::string_view(key));
  TILLID_ASSIGN(bool row, st.step());
  if (!row) return std::optional<std::vector<unsigned char>>{};
  return std::optional<std::vector<unsigned char>>{st.blob(0)};
}

const Error kCorrupt{Errc::corrupt,
                     "the users roster is damaged or was not written by this appliance (FORMAT.md §8); "
                     "nobody can be authorised until vault.db is restored from backup"};

}  // namespace

std::vector<unsigned char> encode_roster(const Id16& vault_id, const Roster& roster) {
  // FORMAT.md §8.1: fixed order, fixed widths, little-endian, length-prefixed strings.
  std::vector<unsigned char> out;
  put_str(out, kRosterTag);
  out.push_back(0);
  put_bytes(out, vault_id);
  put_u64le(out, roster.version);
  put_u32le(out, static_cast<std::uint32_t>(roster.users.size()));
  for (const auto& u : roster.users) {
    put_lstr(out, u.name);
    out.push_back(role_code(u.role));
    put_u32le(out, u.uid ? static_cast<std::uint32_t>(*u.uid) : kNoUid);
    put_lstr(out, u.municipality);
    put_u64le(out, static_cast<std::uint64_t>(u.created_unix));
    out.push_back(u.revoked ? 1 : 0);
  }
  return out;
}

Result<Roster> decode_roster(const Id16& vault_id, std::span<const unsigned char> bytes) {
  Reader r(bytes);
  const unsigned char* p;
  if (!r.take(kRosterTag.size() + 1, p) || std::string_view(reinterpret_cast<const char*>(p), kRosterTag.size()) != kRosterTag ||
      p[kRosterTag.size()] != 0)
    return kCorrupt;
  if (!r.take(vault_id.size(), p)) return kCorrupt;
  if (!std::equal(vault_id.begin(), vault_id.end(), p))
    return make_error(Errc::corrupt, "the users roster belongs to another vault (FORMAT.md §8.1); nobody can be "
                                     "authorised until vault.db is restored from backup");
  Roster out;
  std::uint32_t count;
  if (!r.u64(out.version) || !r.u32(count) || count > kMaxUsers || out.version == 0) return kCorrupt;
  for (std::uint32_t i = 0; i < count; ++i) {
    User u;
    std::uint8_t role, revoked;
    std::uint32_t uid;
    std::uint64_t created;
    if (!r.lstr(u.name, 32) || !r.u8(role) || !r.u32(uid) || !r.lstr(u.municipality, 4) || !r.u64(created) ||
        !r.u8(revoked) || revoked > 1)
      return kCorrupt;
    auto parsed = role_from_code(role);
    if (!parsed) return kCorrupt;
    u.role = *parsed;
    if (uid != kNoUid) u.uid = uid;
    u.created_unix = static_cast<std::int64_t>(created);
    u.revoked = revoked == 1;
    if (!check_new_user(NewUser{u.name, u.role, u.uid, u.municipality}).ok()) return kCorrupt;
    // Strictly ascending names: one encoding per roster, and names unique.
    if (!out.users.empty() && !(out.users.back().name < u.name)) return kCorrupt;
    out.users.push_back(std::move(u));
  }
  if (!r.done()) return kCorrupt;
  return out;
}

Signature sign_roster(const Secret& signing_sk, std::span<const unsigned char> encoding) {
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, encoding.data(), encoding.size(), signing_sk.data());
  return sig;
}

bool verify_roster(const PublicKey& pk, std::span<const unsigned char> encoding, std::span<const unsigned char> sig) {
  if (sig.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(sig.data(), encoding.data(), encoding.size(), pk.data()) == 0;
}

Result<void> check_new_user(const NewUser& u) {
  if (!valid_name(u.name))
    return make_error(Errc::invalid_argument, "a user name is 1 to 32 characters of a-z, 0-9, '.', '_' and '-'");
  if (u.uid && *u.uid == kNoUid) return make_error(Errc::invalid_argument, "uid 4294967295 is not a user");
  if (u.role == Role::caseworker) {
    if (!valid_municipality(u.municipality))
      return make_error(Errc::invalid_argument, "a caseworker needs the 4-digit code of the municipality they serve");
  } else if (!u.municipality.empty()) {
    return make_error(Errc::invalid_argument, "only a caseworker is bound to a municipality");
  }
  return {};
}

Result<Roster> load_roster(Db& db, const Id16& vault_id, const PublicKey& pk) {
  TILLID_ASSIGN(auto enc, get_meta(db, "roster"));
  TILLID_ASSIGN(auto sig, get_meta(db, "roster_sig"));
  if (!enc && !sig) return Roster{};  // FORMAT.md §8.3: a vault created without users
  if (!enc || !sig)
    return make_error(Errc::corrupt, "the users roster or its signature is missing (FORMAT.md §8.3); nobody can be "
                                     "authorised until vault.db is restored from backup");
  // The signature first: nothing in an unsigned roster is parsed as the appliance's word.
  if (!verify_roster(pk, *enc, *sig))
    return make_error(Errc::corrupt, "the users roster's signature does not verify (FORMAT.md §8.3): it was altered "
                                     "or not written by this appliance; nobody can be authorised until vault.db is "
                                     "restored from backup");
  return decode_roster(vault_id, *enc);
}

Result<void> store_roster(Db& db, const Id16& vault_id, const Secret& signing_sk, const Roster& roster) {
  auto enc = encode_roster(vault_id, roster);
  auto sig = sign_roster(signing_sk, enc);
  TILLID_TRY(put_meta(db, "roster", enc));
  return put_meta(db, "roster_sig", sig);
}

std::string user_event_details(const User& u, std::uint64_t roster_version) {
  return "user " + u.name + " role " + std::string(to_string(u.role)) + " roster " + std::to_string(roster_version);
}

std::optional<std::uint64_t> roster_version_in_details(std::string_view details) {
  constexpr std::string_view key = "roster ";
  // The last occurrence: a user's name cannot contain a space, so "roster " is never part of it.
  auto at = details.rfind(key);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digits = details.substr(at + key.size());
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace tillid::detail
