// Sealing of identifying metadata: see metadata_seal.hpp and FORMAT.md §4.
#include "metadata_seal.hpp"

#include <algorithm>

namespace tillid::detail {

namespace {
constexpr std::size_t kPadBlock = 32;
// open_field's per-thread buffer: the first allocation and the most it keeps.
constexpr std::size_t kScratchMin = 4096;
constexpr std::size_t kScratchMax = 65536;

std::vector<unsigned char> field_ad(const Id16& vault_id, const FieldRef& w) {
  std::vector<unsigned char> ad;
  put_str(ad, "tillid.meta.v1");
  ad.push_back(0);
  put_bytes(ad, vault_id);
  put_str(ad, w.table);
  ad.push_back(0);
  put_str(ad, w.column);
  ad.push_back(0);
  put_str(ad, w.row_id);
  return ad;
}
}  // namespace

std::vector<unsigned char> seal_field(const Secret& meta_key, const Id16& vault_id,
                                      const FieldRef& where, std::string_view plaintext) {
  // The padded plaintext lives in sodium memory: it may be a child's name.
  Secret padded(plaintext.size() + kPadBlock);
  std::copy(plaintext.begin(), plaintext.end(), padded.data());
  std::size_t padded_len = 0;
  sodium_pad(&padded_len, padded.data(), plaintext.size(), kPadBlock, padded.size());
  return aead_seal(meta_key, {padded.data(), padded_len}, field_ad(vault_id, where));
}

Result<std::string> open_field(const Secret& meta_key, const Id16& vault_id, const FieldRef& where,
                               std::span<const unsigned char> sealed) {
  std::string what = std::string(where.table) + "." + std::string(where.column) + " of " +
                     std::string(where.row_id);
  if (sealed.size() < kNonceBytes + kTagBytes + kPadBlock)
    return make_error(Errc::corrupt, "sealed field " + what + " is too short");
  // The padded plaintext goes to sodium memory reused by this thread and wiped after each
  // field: a listing opens several fields per row, and a fresh sodium_malloc (mmap, mprotect,
  // mlock) for each cost more than the decryption itself.
  thread_local Secret scratch;
  const std::size_t n = sealed.size() - kNonceBytes - kTagBytes;
  Secret one_off;
  Secret* buf = &scratch;
  if (n > kScratchMax) {
    one_off = Secret(n);
    buf = &one_off;
  } else if (scratch.size() < n) {
    scratch = Secret(std::max(n, kScratchMin));
  }
  struct Wipe {
    Secret& buf_;
    std::size_t len_;
    ~Wipe() { sodium_memzero(buf_.data(), len_); }
  } wiped{*buf, n};
  std::span<unsigned char> padded{buf->data(), n};
  if (!aead_open(meta_key, sealed, field_ad(vault_id, where), padded))
    return make_error(Errc::corrupt, "sealed field " + what +
                                         " does not authenticate (altered or moved between rows)");
  std::size_t len = 0;
  if (sodium_unpad(&len, padded.data(), padded.size(), kPadBlock) != 0)
    return make_error(Errc::corrupt, "sealed field " + what + " has bad padding");
  return std::string(reinterpret_cast<const char*>(padded.data()), len);
}

}  // namespace tillid::detail
