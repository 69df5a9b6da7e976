// JSON codecs of the vault's structs (CONTROL-PROTOCOL.md §9). to_json keeps the field sets
// `tillid --json` printed before the daemon (tools/tillid/output.cpp, vault_commands.cpp,
// export_commands.cpp, record_commands.cpp); from_json is their exact inverse, so a value
// survives daemon → socket → client unchanged.
#include <ctime>
#include <limits>

#include "tillid/control_codec.hpp"

namespace tillid::control {

namespace {

using json = nlohmann::json;

Error bad(std::string_view field, std::string_view what) {
  return make_error(Errc::corrupt, "malformed reply from tillidd: field \"" + std::string(field) + "\" " +
                                       std::string(what));
}

// A field reader that names the first field that is missing or of the wrong type.
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}
  bool object() const { return j_.is_object(); }

  Result<void> str(std::string_view key, std::string& out) const {
    const json* v = find(key);
    if (v == nullptr || !v->is_string()) return bad(key, "is missing or not a string");
    out = v->get<std::string>();
    return {};
  }
  Result<void> boolean(std::string_view key, bool& out) const {
    const json* v = find(key);
    if (v == nullptr || !v->is_boolean()) return bad(key, "is missing or not true/false");
    out = v->get<bool>();
    return {};
  }
  Result<void> i64(std::string_view key, std::int64_t& out) const {
    const json* v = find(key);
    if (v == nullptr || !v->is_number_integer()) return bad(key, "is missing or not an integer");
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      return bad(key, "is out of range");
    out = v->get<std::int64_t>();
    return {};
  }
  Result<void> u64(std::string_view key, std::uint64_t& out) const {
    const json* v = find(key);
    if (v == nullptr || !v->is_number_unsigned()) return bad(key, "is missing or not a non-negative integer");
    out = v->get<std::uint64_t>();
    return {};
  }
  Result<void> size(std::string_view key, std::size_t& out) const {
    std::uint64_t v = 0;
    TILLID_TRY(u64(key, v));
    if (v > std::numeric_limits<std::size_t>::max()) return bad(key, "is out of range");
    out = static_cast<std::size_t>(v);
    return {};
  }
  Result<void> integer(std::string_view key, int& out) const {
    std::int64_t v = 0;
    TILLID_TRY(i64(key, v));
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) return bad(key, "is out of range");
    out = static_cast<int>(v);
    return {};
  }
  Result<void> time(std::string_view key, std::int64_t& out) const {
    std::string text;
    TILLID_TRY(str(key, text));
    auto t = parse_time(text);
    if (!t) return bad(key, "is not a time like 2026-11-22 22:27:51 UTC");
    out = *t;
    return {};
  }
  const json* find(std::string_view key) const {
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }

 private:
  const json& j_;
};

Result<void> not_object(std::string_view what) {
  return make_error(Errc::corrupt, "malformed reply from tillidd: " + std::string(what) + " is not a JSON object");
}

// Role names as users.hpp documents them (firmware/AUTHZ.md); kept here so that the codec,
// which the client links, does not need the roster's code.
constexpr std::string_view kRoleNames[] = {"admin", "staff", "caseworker", "auditor"};
constexpr Role kRoles[] = {Role::admin, Role::staff, Role::caseworker, Role::auditor};

std::string_view role_name(Role r) {
  for (std::size_t i = 0; i < std::size(kRoles); ++i)
    if (kRoles[i] == r) return kRoleNames[i];
  return "unknown";
}

std::optional<Role> role_from(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kRoles); ++i)
    if (kRoleNames[i] == name) return kRoles[i];
  return std::nullopt;
}

bool hex_to_bytes(std::string_view hex, std::span<unsigned char> out) {
  if (hex.size() != out.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // to_hex writes lower case only
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

std::string format_time(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::optional<std::int64_t> parse_time(std::string_view text) {
  if (text.size() > 40) return std::nullopt;
  const std::string s(text);
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%d %H:%M:%S UTC", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const std::int64_t t = timegm(&tm);
  // strptime accepts unpadded and out-of-range fields (timegm normalises them); only the
  // canonical text is this time.
  if (format_time(t) != s) return std::nullopt;
  return t;
}

json to_json(const CaseInfo& c) {
  return {{"id", c.id},           {"case_number", c.case_number}, {"municipality", c.municipality},
          {"child_name", c.child_name}, {"cpr", c.cpr},            {"notes", c.notes},
          {"created", format_time(c.created_unix)}, {"created_unix", c.created_unix},
          {"creator", c.creator}, {"verified", c.verified}};
}

Result<void> from_json(const json& j, CaseInfo& out) {
  const Fields f(j);
  if (!f.object()) return not_object("a case");
  TILLID_TRY(f.str("id", out.id));
  TILLID_TRY(f.str("case_number", out.case_number));
  TILLID_TRY(f.str("municipality", out.municipality));
  TILLID_TRY(f.str("child_name", out.child_name));
  TILLID_TRY(f.str("cpr", out.cpr));
  TILLID_TRY(f.str("notes", out.notes));
  TILLID_TRY(f.i64("created_unix", out.created_unix));
  TILLID_TRY(f.str("creator", out.creator));
  TILLID_TRY(f.boolean("verified", out.verified));
  return {};
}

json to_json(const ItemInfo& item) {
  json j = {{"id", item.id},
            {"case_id", item.case_id},
            {"kind", to_string(item.kind)},
            {"size", item.size},
            {"sha256", to_hex(item.sha256)},
            {"title", item.title},
            {"file_name", item.file_name},
            {"created", format_time(item.created_unix)},
            {"created_unix", item.created_unix},
            {"creator", item.creator},
            {"verified", item.verified}};
  if (item.kind == ItemKind::recording) {
    j["interviewer"] = item.interviewer;
    j["duration_ms"] = item.duration_ms;
    j["interrupted"] = item.interrupted;
    if (item.interrupted) j["interrupted_at"] = format_time(item.interrupted_unix);
    j["bookmark_count"] = item.bookmark_count;
  }
  return j;
}

Result<void> from_json(const json& j, ItemInfo& out) {
  const Fields f(j);
  if (!f.object()) return not_object("an item");
  TILLID_TRY(f.str("id", out.id));
  TILLID_TRY(f.str("case_id", out.case_id));
  std::string kind;
  TILLID_TRY(f.str("kind", kind));
  if (kind == "document") out.kind = ItemKind::document;
  else if (kind == "recording") out.kind = ItemKind::recording;
  else return bad("kind", "is neither document nor recording");
  TILLID_TRY(f.u64("size", out.size));
  std::string sha;
  TILLID_TRY(f.str("sha256", sha));
  if (!hex_to_bytes(sha, out.sha256)) return bad("sha256", "is not 64 lower-case hex digits");
  TILLID_TRY(f.str("title", out.title));
  TILLID_TRY(f.str("file_name", out.file_name));
  TILLID_TRY(f.i64("created_unix", out.created_unix));
  TILLID_TRY(f.str("creator", out.creator));
  TILLID_TRY(f.boolean("verified", out.verified));
  out.interviewer.clear();
  out.duration_ms = 0;
  out.interrupted = false;
  out.interrupted_unix = 0;
  out.bookmark_count = 0;
  if (out.kind == ItemKind::recording) {
    TILLID_TRY(f.str("interviewer", out.interviewer));
    TILLID_TRY(f.i64("duration_ms", out.duration_ms));
    TILLID_TRY(f.boolean("interrupted", out.interrupted));
    if (out.interrupted) {
      // `record show` adds the exact interrupted_unix; listings carry the printed time only.
      if (f.find("interrupted_unix") != nullptr) TILLID_TRY(f.i64("interrupted_unix", out.interrupted_unix));
      else TILLID_TRY(f.time("interrupted_at", out.interrupted_unix));
    }
    TILLID_TRY(f.size("bookmark_count", out.bookmark_count));
  }
  return {};
}

json to_json(const KeySlotInfo& slot) {
  return {{"slot", slot.id}, {"label", slot.label}, {"created", format_time(slot.created_unix)}};
}

Result<void> from_json(const json& j, KeySlotInfo& out) {
  const Fields f(j);
  if (!f.object()) return not_object("a key slot");
  TILLID_TRY(f.integer("slot", out.id));
  TILLID_TRY(f.str("label", out.label));
  TILLID_TRY(f.time("created", out.created_unix));
  return {};
}

json to_json(const Bookmark& b) {
  return {{"seq", b.seq}, {"offset_ms", b.offset_ms}, {"label", b.label}, {"created_unix", b.created_unix}};
}

Result<void> from_json(const json& j, Bookmark& out) {
  const Fields f(j);
  if (!f.object()) return not_object("a bookmark");
  TILLID_TRY(f.integer("seq", out.seq));
  TILLID_TRY(f.i64("offset_ms", out.offset_ms));
  TILLID_TRY(f.str("label", out.label));
  TILLID_TRY(f.i64("created_unix", out.created_unix));
  return {};
}

json to_json(const VerifyReport& r) {
  json problems = json::array();
  for (const auto& p : r.problems) problems.push_back({{"item", p.item_id}, {"problem", p.what}});
  return {{"clean", r.clean()}, {"items_checked", r.items_checked}, {"bytes_checked", r.bytes_checked},
          {"problems", problems}};
}

Result<void> from_json(const json& j, VerifyReport& out) {
  const Fields f(j);
  if (!f.object()) return not_object("a verify report");
  TILLID_TRY(f.size("items_checked", out.items_checked));
  TILLID_TRY(f.u64("bytes_checked", out.bytes_checked));
  bool clean = false;
  TILLID_TRY(f.boolean("clean", clean));
  const json* problems = f.find("problems");
  if (problems == nullptr || !problems->is_array()) return bad("problems", "is missing or not a list");
  out.problems.clear();
  for (const auto& p : *problems) {
    const Fields pf(p);
    if (!pf.object()) return not_object("a verify problem");
    VerifyProblem vp;
    TILLID_TRY(pf.str("item", vp.item_id));
    TILLID_TRY(pf.str("problem", vp.what));
    out.problems.push_back(std::move(vp));
  }
  if (clean != out.clean()) return bad("clean", "contradicts the problems listed");
  return {};
}

json to_json(const ExportSummary& s) {
  return {{"dir", s.dir.string()},
          {"item", to_json(s.item)},
          {"content_file", s.content_file},
          {"log_entries", s.log_entries},
          {"checkpoint_size", s.checkpoint_size},
          {"exported_unix", s.exported_unix},
          {"public_key_hex", s.public_key_hex},
          {"verifier_key", s.verifier_key}};
}

Result<void> from_json(const json& j, ExportSummary& out) {
  const Fields f(j);
  if (!f.object()) return not_object("an export summary");
  std::string dir;
  TILLID_TRY(f.str("dir", dir));
  out.dir = dir;
  const json* item = f.find("item");
  if (item == nullptr) return bad("item", "is missing");
  TILLID_TRY(from_json(*item, out.item));
  TILLID_TRY(f.str("content_file", out.content_file));
  TILLID_TRY(f.size("log_entries", out.log_entries));
  TILLID_TRY(f.u64("checkpoint_size", out.checkpoint_size));
  TILLID_TRY(f.i64("exported_unix", out.exported_unix));
  TILLID_TRY(f.str("public_key_hex", out.public_key_hex));
  TILLID_TRY(f.str("verifier_key", out.verifier_key));
  return {};
}

json to_json(const User& u) {
  return {{"name", u.name},
          {"role", role_name(u.role)},
          {"uid", u.uid ? json(*u.uid) : json(nullptr)},
          {"municipality", u.municipality},
          {"created", format_time(u.created_unix)},
          {"created_unix", u.created_unix},
          {"revoked", u.revoked}};
}

Result<void> from_json(const json& j, User& out) {
  const Fields f(j);
  if (!f.object()) return not_object("a user");
  TILLID_TRY(f.str("name", out.name));
  std::string role;
  TILLID_TRY(f.str("role", role));
  const auto r = role_from(role);
  if (!r) return bad("role", "is not admin, staff, caseworker or auditor");
  out.role = *r;
  const json* uid = f.find("uid");
  if (uid == nullptr) return bad("uid", "is missing");
  if (uid->is_null()) {
    out.uid.reset();
  } else {
    std::uint64_t v = 0;
    TILLID_TRY(f.u64("uid", v));
    if (v > std::numeric_limits<unsigned>::max()) return bad("uid", "is out of range");
    out.uid = static_cast<unsigned>(v);
  }
  TILLID_TRY(f.str("municipality", out.municipality));
  TILLID_TRY(f.i64("created_unix", out.created_unix));
  TILLID_TRY(f.boolean("revoked", out.revoked));
  return {};
}

}  // namespace tillid::control
