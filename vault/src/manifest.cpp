// Item manifest encoding and signing: see manifest.hpp and FORMAT.md §5.
#include "manifest.hpp"

namespace tillid::detail {

std::vector<unsigned char> encode_manifest(const Manifest& m) {
  // FORMAT.md §5.1: fixed order, fixed widths, little-endian, one length-prefixed string.
  std::vector<unsigned char> out;
  put_str(out, "tillid.manifest.v1");
  out.push_back(0);
  put_bytes(out, m.item_id);
  put_bytes(out, m.case_id);
  out.push_back(m.kind == ItemKind::recording ? 2 : 1);
  put_u64le(out, m.size);
  put_bytes(out, m.sha256);
  put_u64le(out, static_cast<std::uint64_t>(m.created_unix));
  put_u32le(out, static_cast<std::uint32_t>(m.creator.size()));
  put_str(out, m.creator);
  return out;
}

Signature sign_manifest(const Secret& signing_sk, const Manifest& m) {
  auto msg = encode_manifest(m);
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), signing_sk.data());
  return sig;
}

bool verify_manifest(const PublicKey& pk, const Manifest& m, std::span<const unsigned char> sig) {
  if (sig.size() != crypto_sign_BYTES) return false;
  auto msg = encode_manifest(m);
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
}

}  // namespace tillid::detail
