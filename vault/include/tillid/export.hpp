// Court export bundles (format: vault/EXPORT-FORMAT.md). Vault::export_item writes one item
// into a new directory: its plaintext as a standard file, a signed manifest, the access-log
// entries about the item with RFC 9162 inclusion proofs to a signed checkpoint, README.txt
// and SHA256SUMS. verify_export checks such a directory offline, with no vault and no key
// other than the one the bundle carries (or one the court obtained independently).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tillid/result.hpp"
#include "tillid/vault.hpp"

namespace tillid {

// What Vault::export_item wrote.
struct ExportSummary {
  std::filesystem::path dir;     // the bundle directory (as given)
  ItemInfo item;
  std::string content_file;      // name of the plaintext file inside `dir`
  std::size_t log_entries = 0;   // access-log entries about the item, each with a proof
  std::uint64_t checkpoint_size = 0;  // tree size of the checkpoint the proofs lead to
  std::int64_t exported_unix = 0;
  std::string public_key_hex;    // the appliance's Ed25519 public key
  std::string verifier_key;      // the signed-note verifier key of the access log
};

// The outcome of checking a bundle. Problems are tampering or damage (each names the file
// and what is wrong); warnings do not fail the check.
struct ExportCheck {
  std::string item_id;
  std::string kind;
  std::string case_number;   // signed by the item manifest v3 (checked)
  std::string municipality;  // likewise
  std::string content_file;
  std::uint64_t size = 0;
  std::string sha256_hex;
  std::size_t log_entries = 0;
  std::uint64_t checkpoint_size = 0;
  std::string public_key_hex;
  bool key_pinned = false;  // a verifier key was given and the bundle's key matched it
  std::vector<std::string> problems;
  std::vector<std::string> warnings;
  bool ok() const { return problems.empty(); }
};

// Check the bundle in `dir` (EXPORT-FORMAT.md §5). `verifier_key`, if given, is the key the
// court obtained independently of the bundle: the access log's verifier key
// ("<name>+<key id>+<base64>"), 64 hex digits, base64 of the 32-byte key, or a PEM public
// key; the bundle's key must equal it. Errors only for an unusable call (no such directory,
// a malformed verifier_key); everything wrong inside the bundle is a problem in the result.
Result<ExportCheck> verify_export(const std::filesystem::path& dir,
                                  std::optional<std::string> verifier_key);

}  // namespace tillid
