// Shared pieces of the court export bundle: see export_format.hpp and EXPORT-FORMAT.md.
#include "export_format.hpp"

#include <ctime>

#include "access_log_format.hpp"
#include "crypto.hpp"

namespace tillid::exportfmt {

namespace {

// RFC 8410 §4: SubjectPublicKeyInfo for Ed25519 is this fixed 12-byte DER prefix
// (SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (33 bytes, 0 unused bits) })
// followed by the 32-byte public key.
constexpr std::array<unsigned char, 12> kSpkiPrefix = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr std::string_view kPemBegin = "-----BEGIN PUBLIC KEY-----\n";
constexpr std::string_view kPemEnd = "-----END PUBLIC KEY-----\n";

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 if it is not one.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (b < 0x80) return 1;
  if ((b & 0xe0) == 0xc0) { n = 2; cp = b & 0x1f; }
  else if ((b & 0xf0) == 0xe0) { n = 3; cp = b & 0x0f; }
  else if ((b & 0xf8) == 0xf0) { n = 4; cp = b & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  if (cp >= 0x80 && cp <= 0x9f) return 0;  // C1 control characters
  return n;
}

}  // namespace

bool is_reserved_name(std::string_view name) {
  for (const char* r : {kManifestJson, kManifestJsonSig, kManifestBin, kManifestSig, kAppliancePem,
                        kCheckpoint, kReadme, kSums})
    if (name == r) return true;
  return false;
}

std::string content_file_name(const ItemInfo& item) {
  if (item.kind == ItemKind::recording) return item.id + ".opus";
  // Only the last path component, whichever separator the original system used.
  std::string_view name = item.file_name;
  if (auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) name = name.substr(slash + 1);
  std::string out;
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t n = utf8_len(name, i);
    const char c = name[i];
    // Characters that are separators, control characters or special on common file systems
    // (Windows forbids <>:"|?*), and sha256sum escapes '\\' and newlines in SHA256SUMS.
    if (n == 0 || (n == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f ||
                              std::string_view("<>:\"|?*\\/").find(c) != std::string_view::npos))) {
      out.push_back('_');
      i += n == 0 ? 1 : n;
      continue;
    }
    if (out.size() + n > 200) break;
    out.append(name.substr(i, n));
    i += n;
  }
  // No hidden files, no names a shell or Windows trims.
  while (!out.empty() && (out.front() == '.' || out.front() == ' ' || out.front() == '-')) out.erase(0, 1);
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  if (out.empty()) return item.id + ".bin";
  if (is_reserved_name(out)) return item.id + "-" + out;
  return out;
}

std::string ed25519_pem(std::span<const unsigned char, 32> pk) {
  std::vector<unsigned char> der(kSpkiPrefix.begin(), kSpkiPrefix.end());
  der.insert(der.end(), pk.begin(), pk.end());
  // 44 bytes of DER are 60 base64 characters: one line, within PEM's 64 (RFC 7468 §2).
  return std::string(kPemBegin) + logfmt::base64(der) + "\n" + std::string(kPemEnd);
}

std::optional<std::array<unsigned char, 32>> parse_ed25519_pem(std::string_view pem) {
  if (pem.substr(0, kPemBegin.size()) != kPemBegin) return std::nullopt;
  pem.remove_prefix(kPemBegin.size());
  const auto end = pem.find("-----END PUBLIC KEY-----");
  if (end == std::string_view::npos) return std::nullopt;
  std::string b64;
  for (char c : pem.substr(0, end))
    if (c != '\n' && c != '\r') b64.push_back(c);
  auto der = logfmt::unbase64(b64);
  if (!der || der->size() != kSpkiPrefix.size() + 32 ||
      !std::equal(kSpkiPrefix.begin(), kSpkiPrefix.end(), der->begin()))
    return std::nullopt;
  std::array<unsigned char, 32> pk{};
  std::copy(der->begin() + kSpkiPrefix.size(), der->end(), pk.begin());
  return pk;
}

std::string iso_time(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string iso_time_ms(std::int64_t unix_ms) {
  std::int64_t s = unix_ms / 1000, ms = unix_ms % 1000;
  if (ms < 0) { ms += 1000; --s; }
  std::string base = iso_time(s);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
  return base.substr(0, base.size() - 1) + frac + "Z";
}

Result<detail::Manifest> decode_manifest(std::span<const unsigned char> b) {
  // FORMAT.md §5.1 (v3) and §5.3 (v1, v2): the common prefix 19 + 16 + 16 + 1 + 8 + 32 + 8 +
  // 4 + n bytes; v3 adds the case number and municipality (u32 length ‖ bytes each), the
  // title and file-name digests, the interviewer flag and digest; v2 and v3 end with u64
  // duration_ms, u8 interrupted, i64 interrupted time and the 32-byte bookmarks digest.
  // Exactly one encoding per manifest: every length must add up to the total.
  constexpr std::string_view kMagicV1("tillid.manifest.v1\0", 19);
  constexpr std::string_view kMagicV2("tillid.manifest.v2\0", 19);
  constexpr std::string_view kMagicV3("tillid.manifest.v3\0", 19);
  constexpr std::size_t kFixed = 19 + 16 + 16 + 1 + 8 + 32 + 8 + 4;
  constexpr std::size_t kRecordingTail = 8 + 1 + 8 + 32;
  auto bad = [](std::string why) { return make_error(Errc::corrupt, "the signed item manifest is malformed: " + why); };
  if (b.size() < kFixed) return bad("too short");
  const std::string_view magic(reinterpret_cast<const char*>(b.data()), 19);
  detail::Manifest m;
  if (magic == kMagicV1) m.version = 1;
  else if (magic == kMagicV2) m.version = 2;
  else if (magic == kMagicV3) m.version = 3;
  else return bad("it does not start with \"tillid.manifest.v1\", \"v2\" or \"v3\" (unknown format or version)");
  const unsigned char* p = b.data() + 19;
  const unsigned char* const end = b.data() + b.size();
  std::copy(p, p + 16, m.item_id.begin()); p += 16;
  std::copy(p, p + 16, m.case_id.begin()); p += 16;
  if (*p != 1 && *p != 2) return bad("unknown item kind " + std::to_string(*p));
  m.kind = *p == 2 ? ItemKind::recording : ItemKind::document; p += 1;
  m.size = detail::get_u64le(p); p += 8;
  std::copy(p, p + 32, m.sha256.begin()); p += 32;
  m.created_unix = static_cast<std::int64_t>(detail::get_u64le(p)); p += 8;
  // A u32-length-prefixed string; false if it runs past the end.
  auto take_str = [&](std::string& out) {
    if (static_cast<std::size_t>(end - p) < 4) return false;
    const std::uint32_t n = detail::get_u32le(p);
    p += 4;
    if (static_cast<std::size_t>(end - p) < n) return false;
    out.assign(reinterpret_cast<const char*>(p), n);
    p += n;
    return true;
  };
  if (!take_str(m.creator)) return bad("the creator length does not match the encoding's length");
  if (m.version == 3) {
    if (!take_str(m.case_number) || !take_str(m.municipality))
      return bad("the case number or municipality length does not match the encoding's length");
    if (static_cast<std::size_t>(end - p) < 32 + 32 + 1 + 32) return bad("too short for the sealed-field digests");
    std::copy(p, p + 32, m.title_sealed_sha256.begin()); p += 32;
    std::copy(p, p + 32, m.file_name_sealed_sha256.begin()); p += 32;
    if (*p > 1) return bad("the interviewer flag is neither 0 nor 1");
    m.has_interviewer = *p == 1; p += 1;
    std::copy(p, p + 32, m.interviewer_sealed_sha256.begin()); p += 32;
  }
  const std::size_t tail = m.version >= 2 ? kRecordingTail : 0;
  if (static_cast<std::size_t>(end - p) != tail) return bad("the lengths inside do not add up to its size");
  if (m.version >= 2) {
    m.duration_ms = static_cast<std::int64_t>(detail::get_u64le(p)); p += 8;
    if (*p > 1) return bad("the interrupted flag is neither 0 nor 1");
    m.interrupted = *p == 1; p += 1;
    m.interrupted_unix = static_cast<std::int64_t>(detail::get_u64le(p)); p += 8;
    std::copy(p, p + 32, m.bookmarks_sha256.begin());
  }
  return m;
}

std::optional<std::vector<unsigned char>> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<unsigned char> out(text.size() / 2);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != text.data() + text.size())
    return std::nullopt;
  return out;
}

}  // namespace tillid::exportfmt
