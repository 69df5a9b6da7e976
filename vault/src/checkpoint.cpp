// Checkpoints: C2SP tlog-checkpoint bodies signed as C2SP signed notes with Ed25519.
// Key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4] (signed-note, Ed25519 type).
#include "checkpoint.hpp"

#include <sodium.h>

#include <charconv>
#include <cstring>

#include "access_log_format.hpp"
#include "merkle.hpp"

namespace tillid::checkpoint {

namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94 ";  // U+2014 then a space
constexpr unsigned char kEd25519Type = 0x01;

std::array<unsigned char, 4> key_id(std::string_view name, std::span<const unsigned char, 32> pk) {
  std::vector<unsigned char> buf(name.begin(), name.end());
  buf.push_back('\n');
  buf.push_back(kEd25519Type);
  buf.insert(buf.end(), pk.begin(), pk.end());
  merkle::Hasher h;
  const LogHash d = h.plain(buf);
  return {d[0], d[1], d[2], d[3]};
}

Error bad(std::string why) { return make_error(Errc::corrupt, "malformed checkpoint: " + why); }

std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

struct SplitNote {
  std::string_view text;  // includes its final newline
  std::string_view sigs;  // signature lines, each ending in newline
};

Result<SplitNote> split_note(std::string_view note) {
  if (note.size() > logfmt::kMaxCheckpointBytes) return bad("longer than 2048 bytes");
  for (unsigned char c : note)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return bad("control character");
  const auto at = note.rfind("\n\n");
  if (at == std::string_view::npos) return bad("no blank line before the signatures");
  SplitNote s{note.substr(0, at + 1), note.substr(at + 2)};
  if (s.sigs.empty() || s.sigs.back() != '\n') return bad("signature lines must end in a newline");
  return s;
}

}  // namespace

bool valid_key_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c >= 0x7f || c == '+') return false;
  return true;
}

std::string body(std::string_view origin, std::uint64_t size, const LogHash& root, std::int64_t time_unix) {
  std::string b(origin);
  b += '\n';
  b += std::to_string(size);
  b += '\n';
  b += logfmt::base64(root);
  b += '\n';
  b += "time ";
  b += std::to_string(time_unix);
  b += '\n';
  return b;
}

Result<std::string> sign(std::string_view text, std::string_view name, const Secret& sk,
                         std::span<const unsigned char, 32> pk) {
  if (sk.size() != crypto_sign_SECRETKEYBYTES)
    return make_error(Errc::invalid_argument, "the checkpoint signing key must be a 64-byte Ed25519 secret key");
  if (sodium_memcmp(sk.data() + 32, pk.data(), 32) != 0)
    return make_error(Errc::invalid_argument, "the checkpoint signing key does not match the public key");
  if (!valid_key_name(name)) return make_error(Errc::invalid_argument, "invalid checkpoint key name");
  std::array<unsigned char, 4 + crypto_sign_BYTES> sig{};
  const auto id = key_id(name, pk);
  std::memcpy(sig.data(), id.data(), 4);
  crypto_sign_detached(sig.data() + 4, nullptr, reinterpret_cast<const unsigned char*>(text.data()),
                       text.size(), sk.data());
  std::string note(text);
  note += '\n';
  note += kEmDash;
  note += name;
  note += ' ';
  note += logfmt::base64(sig);
  note += '\n';
  return note;
}

Result<Checkpoint> parse_unverified(std::string_view note) {
  TILLID_ASSIGN(SplitNote s, split_note(note));
  Checkpoint c;
  std::string_view rest = s.text;
  auto line = [&]() -> std::optional<std::string_view> {
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    auto l = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    return l;
  };
  auto origin = line(), size = line(), root = line(), time = line();
  if (!origin || !size || !root || !time || !rest.empty())
    return bad("the body must be origin, size, root and time lines");
  if (!valid_key_name(*origin)) return bad("invalid origin line");
  auto n = parse_decimal(*size);
  if (!n) return bad("invalid tree size line");
  auto r = logfmt::unbase64(*root);
  if (!r || r->size() != 32) return bad("invalid root hash line");
  if (!time->starts_with("time ")) return bad("missing time line");
  auto t = parse_decimal(time->substr(5));
  if (!t || *t > static_cast<std::uint64_t>(INT64_MAX)) return bad("invalid time line");
  c.origin = std::string(*origin);
  c.size = *n;
  std::memcpy(c.root.data(), r->data(), 32);
  c.time_unix = static_cast<std::int64_t>(*t);
  c.note = std::string(note);
  return c;
}

Result<std::string> check_verifier_key(std::string_view vkey) {
  // Checked by opening a dummy note: the key is parsed before the note is looked at.
  auto r = open_checkpoint("", vkey);
  if (!r && r.error().code == Errc::invalid_argument) return r.error();
  while (!vkey.empty() && (vkey.back() == '\n' || vkey.back() == '\r')) vkey.remove_suffix(1);
  return std::string(vkey.substr(0, vkey.find('+')));
}

}  // namespace tillid::checkpoint

namespace tillid {

std::string log_verifier_key(std::string_view name, std::span<const unsigned char, 32> pk) {
  std::vector<unsigned char> typed{0x01};
  typed.insert(typed.end(), pk.begin(), pk.end());
  return std::string(name) + "+" + logfmt::hex(checkpoint::key_id(name, pk)) + "+" + logfmt::base64(typed);
}

Result<Checkpoint> open_checkpoint(std::string_view note, std::string_view vkey) {
  // Verifier key: <name>+<hex key id>+<base64(0x01 || pk)>.
  while (!vkey.empty() && (vkey.back() == '\n' || vkey.back() == '\r')) vkey.remove_suffix(1);
  const auto p1 = vkey.find('+');
  const auto p2 = p1 == std::string_view::npos ? p1 : vkey.find('+', p1 + 1);
  if (p2 == std::string_view::npos)
    return make_error(Errc::invalid_argument, "verifier key must be <name>+<key id>+<key>");
  const auto name = vkey.substr(0, p1);
  const auto id_hex = vkey.substr(p1 + 1, p2 - p1 - 1);
  auto typed = logfmt::unbase64(vkey.substr(p2 + 1));
  if (!checkpoint::valid_key_name(name) || id_hex.size() != 8 || !typed || typed->size() != 33 ||
      (*typed)[0] != 0x01)
    return make_error(Errc::invalid_argument, "verifier key is malformed or not an Ed25519 key");
  std::array<unsigned char, 32> pk;
  std::memcpy(pk.data(), typed->data() + 1, 32);
  const auto id = checkpoint::key_id(name, pk);
  if (logfmt::hex(id) != id_hex)
    return make_error(Errc::invalid_argument, "verifier key's key id does not match its name and key");

  TILLID_ASSIGN(Checkpoint c, checkpoint::parse_unverified(note));
  const auto at = note.rfind("\n\n");
  const std::string_view text = note.substr(0, at + 1);
  std::string_view sigs = note.substr(at + 2);
  const std::string prefix = std::string(checkpoint::kEmDash) + std::string(name) + " ";
  bool seen = false;
  while (!sigs.empty()) {
    const auto nl = sigs.find('\n');
    const auto l = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (!l.starts_with(checkpoint::kEmDash)) return checkpoint::bad("signature line without em dash");
    if (!l.starts_with(prefix)) continue;  // another key's signature (e.g. a witness): ignored
    auto sig = logfmt::unbase64(l.substr(prefix.size()));
    if (!sig || sig->size() < 4) return checkpoint::bad("signature is not base64");
    if (std::memcmp(sig->data(), id.data(), 4) != 0) continue;  // same name, other key
    seen = true;
    // signed-note: a failing signature from a known key rejects the whole note.
    if (sig->size() != 4 + crypto_sign_BYTES ||
        crypto_sign_verify_detached(sig->data() + 4, reinterpret_cast<const unsigned char*>(text.data()),
                                    text.size(), pk.data()) != 0)
      return make_error(Errc::corrupt, "checkpoint signature by " + std::string(name) +
                                           " does not verify: the checkpoint was forged or altered");
  }
  if (!seen) return make_error(Errc::corrupt, "checkpoint is not signed by " + std::string(name) + "+" + std::string(id_hex));
  if (c.origin != name)
    return make_error(Errc::corrupt, "checkpoint origin \"" + c.origin + "\" is not the key name \"" + std::string(name) + "\"");
  return c;
}

}  // namespace tillid
