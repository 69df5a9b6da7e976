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
  auto m = vectors::manifest();
  auto enc = tillid::detail::encode_manifest(m);
  auto sig = tillid::detail::sign_manifest(vectors::signing_secret_key(), m);
  std::ofstream(out / "manifest-v1.bin", std::ios::binary).write(reinterpret_cast<const char*>(enc.data()), enc.size());
  std::ofstream(out / "manifest-v1.sig", std::ios::binary).write(reinterpret_cast<const char*>(sig.data()), sig.size());
  std::cout << "wrote vectors to " << out << "\n";
  return 0;
}
