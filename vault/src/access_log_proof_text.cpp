// Text form of inclusion and consistency proofs (LOG-FORMAT.md §5), for verifiers that are
// not this program: one "key value" per line, hashes and entry bytes in base64.
#include <charconv>
#include <cstring>

#include "access_log_format.hpp"
#include "tillid/access_log.hpp"

namespace tillid {

namespace {

constexpr std::string_view kInclusionHeader = "tillid-log inclusion proof v1";
constexpr std::string_view kConsistencyHeader = "tillid-log consistency proof v1";
constexpr std::size_t kMaxPath = 64;

Error bad(std::string why) { return make_error(Errc::invalid_argument, "malformed proof: " + why); }

struct Lines {
  std::string_view rest;
  std::optional<std::string_view> next() {
    if (rest.empty()) return std::nullopt;
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      auto l = rest;
      rest = {};
      return l;
    }
    auto l = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    return l;
  }
};

std::optional<std::uint64_t> field_u64(std::optional<std::string_view> line, std::string_view key) {
  if (!line || !line->starts_with(key) || line->size() <= key.size() + 1 || (*line)[key.size()] != ' ')
    return std::nullopt;
  const auto v = line->substr(key.size() + 1);
  if (v.size() > 1 && v[0] == '0') return std::nullopt;
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || p != v.data() + v.size()) return std::nullopt;
  return n;
}

Result<std::vector<LogHash>> parse_path(Lines& lines) {
  std::vector<LogHash> path;
  while (auto l = lines.next()) {
    if (l->empty()) continue;
    if (!l->starts_with("path ")) return bad("unexpected line \"" + std::string(l->substr(0, 40)) + "\"");
    auto b = logfmt::unbase64(l->substr(5));
    if (!b || b->size() != 32) return bad("path hash is not 32 bytes of base64");
    if (path.size() == kMaxPath) return bad("more than 64 path hashes");
    LogHash hh;
    std::memcpy(hh.data(), b->data(), 32);
    path.push_back(hh);
  }
  return path;
}

}  // namespace

std::string format_proof(const InclusionProof& p) {
  std::string s(kInclusionHeader);
  s += "\nindex " + std::to_string(p.index) + "\nsize " + std::to_string(p.tree_size) + "\nentry " +
       logfmt::base64(p.entry) + "\n";
  for (const auto& h : p.path) s += "path " + logfmt::base64(h) + "\n";
  return s;
}

std::string format_proof(const ConsistencyProof& p) {
  std::string s(kConsistencyHeader);
  s += "\nold-size " + std::to_string(p.old_size) + "\nnew-size " + std::to_string(p.new_size) + "\n";
  for (const auto& h : p.path) s += "path " + logfmt::base64(h) + "\n";
  return s;
}

Result<InclusionProof> parse_inclusion_proof(std::string_view text) {
  Lines lines{text};
  if (lines.next() != kInclusionHeader) return bad("first line must be \"" + std::string(kInclusionHeader) + "\"");
  InclusionProof p;
  auto index = field_u64(lines.next(), "index");
  auto size = field_u64(lines.next(), "size");
  if (!index || !size) return bad("index and size lines expected");
  auto entry = lines.next();
  if (!entry || !entry->starts_with("entry ")) return bad("entry line expected");
  auto bytes = logfmt::unbase64(entry->substr(6));
  if (!bytes || bytes->empty() || bytes->size() > logfmt::kMaxEntryBytes) return bad("entry is not valid base64");
  p.index = *index;
  p.tree_size = *size;
  p.entry = std::move(*bytes);
  TILLID_ASSIGN(p.path, parse_path(lines));
  return p;
}

Result<ConsistencyProof> parse_consistency_proof(std::string_view text) {
  Lines lines{text};
  if (lines.next() != kConsistencyHeader) return bad("first line must be \"" + std::string(kConsistencyHeader) + "\"");
  auto m = field_u64(lines.next(), "old-size");
  auto n = field_u64(lines.next(), "new-size");
  if (!m || !n) return bad("old-size and new-size lines expected");
  ConsistencyProof p{*m, *n, {}};
  TILLID_ASSIGN(p.path, parse_path(lines));
  return p;
}

}  // namespace tillid
