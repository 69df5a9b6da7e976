// Access log entries (LOG-FORMAT.md §2: canonical binary encoding v1 with bounds on every
// field) and file framing (§3: torn tail versus damage), plus small encoding helpers.
#include "access_log_format.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace tillid {

namespace {

constexpr unsigned char kEntryVersion = 1;
constexpr std::size_t kMaxId = 64, kMaxRole = 16, kMaxDetails = 240;

struct ActionName {
  LogAction action;
  std::string_view name;
};
constexpr std::array kActionNames = {
    ActionName{LogAction::vault_init, "vault_init"},
    ActionName{LogAction::unlock, "unlock"},
    ActionName{LogAction::lock, "lock"},
    ActionName{LogAction::key_slot_added, "key_slot_added"},
    ActionName{LogAction::key_slot_removed, "key_slot_removed"},
    ActionName{LogAction::case_created, "case_created"},
    ActionName{LogAction::cases_listed, "cases_listed"},
    ActionName{LogAction::item_added, "item_added"},
    ActionName{LogAction::items_listed, "items_listed"},
    ActionName{LogAction::item_read, "item_read"},
    ActionName{LogAction::verify_run, "verify_run"},
    ActionName{LogAction::case_viewed, "case_viewed"},
    ActionName{LogAction::item_viewed, "item_viewed"},
    ActionName{LogAction::recovery, "recovery"},
    ActionName{LogAction::vault_upgraded, "vault_upgraded"},
    ActionName{LogAction::record_start, "record_start"},
    ActionName{LogAction::record_stop, "record_stop"},
    ActionName{LogAction::record_bookmark, "record_bookmark"},
    ActionName{LogAction::share_created, "share_created"},
    ActionName{LogAction::share_revoked, "share_revoked"},
    ActionName{LogAction::share_fetched, "share_fetched"},
    ActionName{LogAction::shares_listed, "shares_listed"},
    ActionName{LogAction::export_made, "export_made"},
    ActionName{LogAction::item_deleted, "item_deleted"},
    ActionName{LogAction::case_deleted, "case_deleted"},
    ActionName{LogAction::retention_run, "retention_run"},
    ActionName{LogAction::login, "login"},
    ActionName{LogAction::user_enrolled, "user_enrolled"},
    ActionName{LogAction::user_revoked, "user_revoked"},
    ActionName{LogAction::device_enrolled, "device_enrolled"},
    ActionName{LogAction::device_revoked, "device_revoked"},
    ActionName{LogAction::log_verified, "log_verified"},
    ActionName{LogAction::report_made, "report_made"},
    ActionName{LogAction::checkpoint_fetched, "checkpoint_fetched"},
    ActionName{LogAction::log_quarantined, "log_quarantined"},
    ActionName{LogAction::record_adopted, "record_adopted"},
    ActionName{LogAction::users_listed, "users_listed"},
    ActionName{LogAction::authz_decision, "authz_decision"},
    ActionName{LogAction::daemon_started, "daemon_started"},
    ActionName{LogAction::daemon_stopped, "daemon_stopped"},
    ActionName{LogAction::protocol_error, "protocol_error"},
};

bool id_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '@' || c == ':' || c == '+' || c == '-';
}
bool role_char(unsigned char c) { return (c >= 'a' && c <= 'z') || c == '_' || c == '-'; }

bool valid_utf8_text(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++p;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
    else return false;
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    // Overlong forms, surrogates, beyond U+10FFFF, and C1 controls are refused.
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
      return false;
    p += n + 1;
  }
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A Danish CPR number is DDMMYY-SSSS or DDMMYYSSSS. Details must never carry one; refusing
// the shape (with a plausible day and month) catches the mistake before it is signed forever.
bool looks_like_cpr(std::string_view s) {
  for (std::size_t i = 0; i + 10 <= s.size(); ++i) {
    if (i > 0 && is_digit(s[i - 1])) continue;
    std::size_t j = i, digits = 0;
    std::string d;
    while (j < s.size() && digits < 10) {
      if (is_digit(s[j])) { d.push_back(s[j]); ++digits; ++j; }
      else if (digits == 6 && (s[j] == '-' || s[j] == ' ') && j + 1 < s.size() && is_digit(s[j + 1])) ++j;
      else break;
    }
    if (digits != 10 || (j < s.size() && is_digit(s[j]))) continue;
    const int day = (d[0] - '0') * 10 + (d[1] - '0'), month = (d[2] - '0') * 10 + (d[3] - '0');
    if (day >= 1 && day <= 31 && month >= 1 && month <= 12) return true;
  }
  return false;
}

Result<void> check_id(std::string_view what, std::string_view v, std::size_t min, std::size_t max,
                      bool (*ok)(unsigned char)) {
  if (v.size() < min || v.size() > max)
    return make_error(Errc::invalid_argument, std::string(what) + " must be " + std::to_string(min) +
                                                  ".." + std::to_string(max) + " bytes");
  for (unsigned char c : v)
    if (!ok(c)) return make_error(Errc::invalid_argument, std::string(what) + " has a character outside its allowed set");
  return {};
}

void put_u16(std::vector<unsigned char>& o, std::uint16_t v) {
  o.push_back(static_cast<unsigned char>(v >> 8));
  o.push_back(static_cast<unsigned char>(v));
}
void put_u64(std::vector<unsigned char>& o, std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) o.push_back(static_cast<unsigned char>(v >> s));
}

struct Reader {
  std::span<const unsigned char> b;
  std::size_t pos = 0;
  bool bad = false;
  std::uint64_t u(std::size_t n) {
    if (b.size() - pos < n) { bad = true; return 0; }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | b[pos++];
    return v;
  }
  std::string str(std::size_t len) {
    if (b.size() - pos < len) { bad = true; return {}; }
    std::string s(reinterpret_cast<const char*>(b.data() + pos), len);
    pos += len;
    return s;
  }
};

}  // namespace

std::string to_string(LogAction action) {
  for (const auto& a : kActionNames)
    if (a.action == action) return std::string(a.name);
  return "action-" + std::to_string(static_cast<unsigned>(action));
}

std::string_view to_string(LogOutcome outcome) {
  switch (outcome) {
    case LogOutcome::ok: return "ok";
    case LogOutcome::refused: return "refused";
    case LogOutcome::failed: return "failed";
  }
  return "unknown";
}

std::optional<LogAction> parse_log_action(std::string_view name) {
  for (const auto& a : kActionNames)
    if (a.name == name) return a.action;
  return std::nullopt;
}

Result<void> validate(const LogEvent& e) {
  TILLID_TRY(check_id("actor id", e.actor_id, 1, kMaxId, id_char));
  TILLID_TRY(check_id("actor role", e.actor_role, 1, kMaxRole, role_char));
  TILLID_TRY(check_id("case id", e.case_id, 0, kMaxId, id_char));
  TILLID_TRY(check_id("item id", e.item_id, 0, kMaxId, id_char));
  if (e.outcome != LogOutcome::ok && e.outcome != LogOutcome::refused && e.outcome != LogOutcome::failed)
    return make_error(Errc::invalid_argument, "log outcome must be ok, refused or failed");
  if (e.details.size() > kMaxDetails)
    return make_error(Errc::invalid_argument, "log details must be at most 240 bytes");
  if (!valid_utf8_text(e.details))
    return make_error(Errc::invalid_argument, "log details must be UTF-8 text without control characters");
  if (looks_like_cpr(e.details))
    return make_error(Errc::invalid_argument,
                      "log details look like they hold a CPR number; identifying data never goes in the log");
  return {};
}

std::vector<unsigned char> encode_log_entry(const LogEntry& e) {
  std::vector<unsigned char> o;
  o.reserve(26 + e.actor_id.size() + e.actor_role.size() + e.case_id.size() + e.item_id.size() +
            e.details.size());
  o.push_back(kEntryVersion);
  put_u64(o, e.seq);
  put_u64(o, static_cast<std::uint64_t>(e.time_unix_ms));
  put_u16(o, static_cast<std::uint16_t>(e.action));
  o.push_back(static_cast<unsigned char>(e.outcome));
  for (const std::string* s : {&e.actor_id, &e.actor_role, &e.case_id, &e.item_id}) {
    o.push_back(static_cast<unsigned char>(s->size()));
    o.insert(o.end(), s->begin(), s->end());
  }
  put_u16(o, static_cast<std::uint16_t>(e.details.size()));
  o.insert(o.end(), e.details.begin(), e.details.end());
  return o;
}

Result<LogEntry> decode_log_entry(std::span<const unsigned char> bytes) {
  auto bad = [](std::string why) { return make_error(Errc::corrupt, "malformed log entry: " + why); };
  if (bytes.size() > logfmt::kMaxEntryBytes) return bad("longer than 474 bytes");
  Reader r{bytes};
  const auto version = r.u(1);
  if (r.bad) return bad("empty");
  if (version != kEntryVersion)
    return make_error(Errc::unsupported, "log entry version " + std::to_string(version) + " is not supported");
  LogEntry e;
  e.seq = r.u(8);
  e.time_unix_ms = static_cast<std::int64_t>(r.u(8));
  e.action = static_cast<LogAction>(r.u(2));
  e.outcome = static_cast<LogOutcome>(r.u(1));
  for (std::string* s : {&e.actor_id, &e.actor_role, &e.case_id, &e.item_id}) *s = r.str(r.u(1));
  e.details = r.str(r.u(2));
  if (r.bad) return bad("shorter than its fields");
  if (r.pos != bytes.size()) return bad("trailing bytes");
  if (e.action == LogAction{0}) return bad("action 0");
  if (auto v = validate(e); !v) return bad(v.error().message);
  return e;
}

bool matches(const LogEntry& e, const LogQuery& q) {
  if (q.case_id && e.case_id != *q.case_id) return false;
  if (q.actor_id && e.actor_id != *q.actor_id) return false;
  if (q.item_id && e.item_id != *q.item_id) return false;
  if (q.from_unix_ms && e.time_unix_ms < *q.from_unix_ms) return false;
  if (q.to_unix_ms && e.time_unix_ms >= *q.to_unix_ms) return false;
  if (q.outcome && e.outcome != *q.outcome) return false;
  if (!q.actions.empty() && std::find(q.actions.begin(), q.actions.end(), e.action) == q.actions.end()) return false;
  return true;
}

// LOG-FORMAT.md §3.4: "seq A-B[,C-D...]", split so that no event's details exceed 240 bytes.
std::vector<std::string> format_quarantine_details(std::span<const std::uint64_t> seqs) {
  std::vector<std::string> out;
  std::string cur;
  auto flush_range = [&](std::uint64_t a, std::uint64_t b) {
    const std::string r = std::to_string(a) + "-" + std::to_string(b);
    if (!cur.empty() && cur.size() + 1 + r.size() > kMaxDetails) {
      out.push_back(std::move(cur));
      cur.clear();
    }
    cur += cur.empty() ? "seq " + r : "," + r;
  };
  for (std::size_t i = 0; i < seqs.size();) {
    std::size_t j = i;
    while (j + 1 < seqs.size() && seqs[j + 1] == seqs[j] + 1) ++j;
    flush_range(seqs[i], seqs[j]);
    i = j + 1;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

Result<std::vector<LogSeqRange>> parse_quarantine_details(std::string_view d) {
  auto bad = [&] {
    return make_error(Errc::corrupt, "log_quarantined details are not \"seq A-B[,C-D...]\": " + std::string(d));
  };
  if (d.substr(0, 4) != "seq ") return bad();
  d.remove_prefix(4);
  std::vector<LogSeqRange> out;
  auto number = [&](std::uint64_t& v) {
    std::size_t n = 0;
    v = 0;
    while (n < d.size() && is_digit(d[n]) && n < 20) {
      v = v * 10 + static_cast<std::uint64_t>(d[n] - '0');
      ++n;
    }
    if (n == 0 || n >= 20 || (n > 1 && d[0] == '0')) return false;  // canonical decimal only
    d.remove_prefix(n);
    return true;
  };
  for (;;) {
    LogSeqRange r;
    if (!number(r.first) || d.empty() || d[0] != '-') return bad();
    d.remove_prefix(1);
    if (!number(r.last) || r.last < r.first) return bad();
    if (!out.empty() && r.first <= out.back().last) return bad();  // ascending, disjoint
    out.push_back(r);
    if (d.empty()) break;
    if (d[0] != ',') return bad();
    d.remove_prefix(1);
  }
  return out;
}

std::vector<LogSeqRange> quarantined_ranges(std::span<const LogEntry> entries) {
  // Newest first: a genuine event names only earlier seqs, and anything an attacker appended
  // (a forged log_quarantined event included) is named by the genuine event the appliance
  // wrote after it at the next unlock, so a quarantined event's own ranges never count.
  std::vector<const LogEntry*> events;
  for (const auto& e : entries)
    if (e.action == LogAction::log_quarantined && e.outcome == LogOutcome::ok) events.push_back(&e);
  std::sort(events.begin(), events.end(), [](const LogEntry* a, const LogEntry* b) { return a->seq > b->seq; });
  std::vector<LogSeqRange> out;
  for (const LogEntry* e : events) {
    if (in_ranges(out, e->seq)) continue;
    auto r = parse_quarantine_details(e->details);
    if (!r) continue;
    for (const auto& range : *r)
      if (range.last < e->seq) out.push_back(range);  // an event only names earlier entries
  }
  std::sort(out.begin(), out.end(), [](const LogSeqRange& a, const LogSeqRange& b) { return a.first < b.first; });
  return out;
}

bool in_ranges(std::span<const LogSeqRange> ranges, std::uint64_t seq) {
  for (const auto& r : ranges)
    if (r.contains(seq)) return true;
  return false;
}

}  // namespace tillid

namespace tillid::logfmt {

void append_record(std::vector<unsigned char>& out, std::span<const unsigned char> payload,
                   std::span<const unsigned char> mac, const LogHash& leaf) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<unsigned char>(n >> 24));
  out.push_back(static_cast<unsigned char>(n >> 16));
  out.push_back(static_cast<unsigned char>(n >> 8));
  out.push_back(static_cast<unsigned char>(n));
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), mac.begin(), mac.end());
  out.insert(out.end(), leaf.begin(), leaf.begin() + kCheckBytes);
}

namespace {
// LOG-FORMAT.md §3.3: the label keeps this MAC apart from every other use of the vault's keys.
constexpr std::string_view kEntryMacLabel{"tillid-log entry mac v1\0", 24};
}  // namespace

EntryMac entry_mac(const Secret& key, std::span<const unsigned char> entry) {
  EntryMac mac{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.data(), key.size(), mac.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kEntryMacLabel.data()), kEntryMacLabel.size());
  crypto_generichash_update(&st, entry.data(), entry.size());
  crypto_generichash_final(&st, mac.data(), mac.size());
  sodium_memzero(&st, sizeof st);
  // All zero bytes mean "no MAC" (§3.1); a real MAC of all zeros has probability 2^-256.
  return mac;
}

bool entry_mac_valid(const Secret& key, std::span<const unsigned char> entry, std::span<const unsigned char> mac) {
  if (mac.size() != kMacBytes) return false;
  const EntryMac expect = entry_mac(key, entry);
  return sodium_memcmp(expect.data(), mac.data(), kMacBytes) == 0;
}

namespace {

// The records of image[start..]: a whole file after its header, or a region of one. Offsets
// are reported as base + position in `image`.
void scan_body(Scan& s, merkle::Hasher& h, std::span<const unsigned char> image, std::uint64_t start,
               std::uint64_t base, std::size_t max_payload, std::size_t mac_bytes) {
  const std::uint64_t frame = frame_bytes(mac_bytes);
  std::uint64_t off = start;
  const std::uint64_t size = image.size();
  auto zeros_from = [&](std::uint64_t from) {
    return std::all_of(image.begin() + static_cast<std::ptrdiff_t>(from), image.end(),
                       [](unsigned char c) { return c == 0; });
  };
  while (off < size) {
    const std::uint64_t left = size - off;
    std::string why;
    std::uint64_t rec_end = 0;
    if (left < 4) {
      s.torn_bytes = left;  // not even a whole length field: a torn append
      break;
    }
    const std::uint32_t n = (std::uint32_t{image[off]} << 24) | (std::uint32_t{image[off + 1]} << 16) |
                            (std::uint32_t{image[off + 2]} << 8) | image[off + 3];
    if (n == 0 || n > max_payload) {
      why = "record length " + std::to_string(n) + " is out of bounds";
    } else if (left < frame + n) {
      s.torn_bytes = left;  // the record runs past the end of the file: a torn append
      break;
    } else {
      auto payload = image.subspan(off + 4, n);
      LogHash leaf = h.leaf(payload);
      if (std::memcmp(leaf.data(), image.data() + off + 4 + n + mac_bytes, kCheckBytes) == 0) {
        s.records.push_back({base + off, payload, image.subspan(off + 4 + n, mac_bytes), leaf});
        off += frame + n;
        s.good_end = base + off;
        continue;
      }
      why = "record check bytes do not match its contents";
      rec_end = off + frame + n;
    }
    // A bad record is a torn tail only if nothing but zero bytes follows it (blocks whose
    // data never reached the disk read back as zeros); anything else is damage.
    if (zeros_from(off) || (rec_end != 0 && zeros_from(rec_end))) {
      s.torn_bytes = left;
      break;
    }
    s.damaged = true;
    s.damage_offset = base + off;
    s.damage_index = s.records.size();
    s.damage = why;
    break;
  }
  if (s.records.empty()) s.good_end = base + start;
}

}  // namespace

Scan scan_records(merkle::Hasher& h, std::span<const unsigned char> image,
                  std::string_view header, std::size_t max_payload, std::size_t mac_bytes) {
  Scan s;
  if (image.size() < header.size() ||
      std::memcmp(image.data(), header.data(), header.size()) != 0) {
    s.damaged = true;
    s.damage = "file header is not \"" + std::string(header.substr(0, header.size() - 1)) + "\"";
    return s;
  }
  s.header_ok = true;
  scan_body(s, h, image, header.size(), 0, max_payload, mac_bytes);
  return s;
}

Scan scan_region(merkle::Hasher& h, std::span<const unsigned char> region, std::uint64_t base,
                 std::size_t max_payload, std::size_t mac_bytes) {
  Scan s;
  s.header_ok = true;
  scan_body(s, h, region, 0, base, max_payload, mac_bytes);
  return s;
}

Scan scan_entries(merkle::Hasher& h, std::span<const unsigned char> image) {
  const bool v1 = image.size() >= kEntriesHeaderV1.size() &&
                  std::memcmp(image.data(), kEntriesHeaderV1.data(), kEntriesHeaderV1.size()) == 0;
  Scan s = v1 ? scan_records(h, image, kEntriesHeaderV1, kMaxEntryBytes, 0)
              : scan_records(h, image, kEntriesHeader, kMaxEntryBytes, kMacBytes);
  if (s.header_ok) s.version = v1 ? 1 : 2;
  return s;
}

namespace {
void put64(std::vector<unsigned char>& o, std::uint64_t v) {
  for (int sh = 56; sh >= 0; sh -= 8) o.push_back(static_cast<unsigned char>(v >> sh));
}
std::uint64_t get64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
}  // namespace

void append_index_record(std::vector<unsigned char>& out, const IndexRecord& rec) {
  out.insert(out.end(), rec.block.begin(), rec.block.end());
  put64(out, rec.entries_end);
  put64(out, rec.checkpoint_at);
}

std::optional<std::vector<IndexRecord>> parse_index(std::span<const unsigned char> image) {
  if (image.size() < kIndexHeader.size() || std::memcmp(image.data(), kIndexHeader.data(), kIndexHeader.size()) != 0)
    return std::nullopt;
  std::vector<IndexRecord> out;
  for (std::size_t off = kIndexHeader.size(); off + kIndexRecordBytes <= image.size(); off += kIndexRecordBytes) {
    IndexRecord r;
    std::memcpy(r.block.data(), image.data() + off, 32);
    r.entries_end = get64(image.data() + off + 32);
    r.checkpoint_at = get64(image.data() + off + 40);
    out.push_back(r);
  }
  return out;
}

Result<std::vector<unsigned char>> read_file(const std::filesystem::path& path) {
  // O_NOFOLLOW: a symlink planted in place of a log file is refused, never followed (§1).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int err = errno;
    return make_error(err == ENOENT ? Errc::not_found : Errc::io,
                      "cannot open " + path.string() + ": " + std::strerror(err) +
                          (err == ELOOP ? " (it is a symbolic link; log files never are)" : ""));
  }
  std::vector<unsigned char> data;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) data.reserve(static_cast<std::size_t>(st.st_size));
  std::array<unsigned char, 1 << 16> buf;
  for (;;) {
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      return make_error(Errc::io, "cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (got == 0) break;
    data.insert(data.end(), buf.begin(), buf.begin() + got);
  }
  ::close(fd);
  return data;
}

std::string base64(std::span<const unsigned char> bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::vector<unsigned char>> unbase64(std::string_view text) {
  std::vector<unsigned char> out(text.size() / 4 * 3 + 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(len);
  if (base64(out) != text) return std::nullopt;  // only the canonical encoding
  return out;
}

std::string hex(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

}  // namespace tillid::logfmt
