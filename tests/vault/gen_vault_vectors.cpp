// Regenerates the committed vault vectors: tillid-vault-vectors <output dir>.
// Run by hand only when FORMAT.md changes version; the committed files are the reference.
#include <fstream>
#include <iostream>

#include "vault_vectors.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tillid-vault-vectors OUTPUT_DIR\n";
    return 2;
  }
  if (sodium_init() < 0) return 1;
  std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  for (const auto& v : vectors::object_vectors()) vectors::write_object(v, out / v.name);
  auto write = [&](const char* name, const auto& bytes) {
    std::ofstream(out / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  const auto& sk = vectors::signing_secret_key();
  write("manifest-v1.bin", tillid::detail::encode_manifest(vectors::manifest()));
  write("manifest-v1.sig", tillid::detail::sign_manifest(sk, vectors::manifest()));
  write("manifest-v3.bin", tillid::detail::encode_manifest(vectors::manifest_v3()));
  write("manifest-v3.sig", tillid::detail::sign_manifest(sk, vectors::manifest_v3()));
  write("case-v1.bin", tillid::detail::encode_case_manifest(vectors::case_manifest()));
  write("case-v1.sig", tillid::detail::sign_case_manifest(sk, vectors::case_manifest()));
  std::cout << "wrote vectors to " << out << "\n";
  return 0;
}
