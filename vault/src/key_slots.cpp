// Key slots: see key_slots.hpp and FORMAT.md §2.1.
#include "key_slots.hpp"

#include <cstdlib>
#include <ctime>
#include <string_view>

namespace tillid::detail {

namespace {
std::vector<unsigned char> slot_ad(const Id16& vault_id, unsigned long long ops, std::size_t mem,
                                   std::span<const unsigned char> salt) {
  // FORMAT.md §2.1: binds the vault and the slot's own KDF parameters.
  std::vector<unsigned char> ad;
  put_str(ad, "tillid.keyslot.v1");
  ad.push_back(0);
  put_bytes(ad, vault_id);
  put_u64le(ad, ops);
  put_u64le(ad, mem);
  put_bytes(ad, salt);
  return ad;
}
}  // namespace

bool weak_slots_allowed() {
#ifdef TILLID_TESTING
  // Test builds only, and only when the test environment asks (tests/CMakeLists.txt).
  const char* v = std::getenv("TILLID_TEST_WEAK_KDF");
  return v != nullptr && std::string_view(v) == "1";
#else
  return false;
#endif
}

Result<void> check_slot_strength(const Passphrase& passphrase, KdfCost cost) {
  if (passphrase.empty()) return make_error(Errc::invalid_argument, "the passphrase is empty; choose a passphrase");
  if (weak_slots_allowed()) return {};
  // Characters, not bytes: count UTF-8 lead bytes.
  std::size_t chars = 0;
  for (unsigned char c : passphrase.bytes())
    if ((c & 0xC0) != 0x80) ++chars;
  if (chars < kMinPassphraseChars)
    return make_error(Errc::invalid_argument, "the passphrase has " + std::to_string(chars) +
                                                  " characters; a key slot needs at least " +
                                                  std::to_string(kMinPassphraseChars) + " (a passphrase of several words)");
  const KdfCost floor = KdfCost::interactive();
  if (cost.opslimit < floor.opslimit || cost.memlimit < floor.memlimit)
    return make_error(Errc::invalid_argument,
                      "the key derivation cost is below 'interactive' (Argon2id " + std::to_string(floor.opslimit) +
                          " passes, " + std::to_string(floor.memlimit >> 20) +
                          " MiB), the minimum for a key slot; use --kdf interactive or moderate");
  return {};
}

Result<int> insert_key_slot(Db& db, const Id16& vault_id, const Secret& master,
                            const Passphrase& passphrase, const std::string& label, KdfCost cost) {
  TILLID_TRY(check_slot_strength(passphrase, cost));
  if (label.size() > 200) return make_error(Errc::invalid_argument, "the key slot label is longer than 200 bytes");
  std::vector<unsigned char> salt(crypto_pwhash_SALTBYTES);
  randombytes_buf(salt.data(), salt.size());
  TILLID_ASSIGN(Secret kek, derive_passphrase_key(passphrase, salt, cost.opslimit, cost.memlimit));
  auto wrapped = aead_seal(kek, master.bytes(), slot_ad(vault_id, cost.opslimit, cost.memlimit, salt));
  TILLID_ASSIGN(Stmt st, db.prepare("INSERT INTO key_slots (label, created_unix, kdf_alg, opslimit, "
                                    "memlimit, salt, wrapped_master) VALUES (?,?,?,?,?,?,?)",
                                    "cannot store the key slot"));
  st.bind(1, label)
      .bind(2, static_cast<std::int64_t>(std::time(nullptr)))
      .bind(3, static_cast<std::int64_t>(crypto_pwhash_ALG_ARGON2ID13))
      .bind(4, static_cast<std::int64_t>(cost.opslimit))
      .bind(5, static_cast<std::int64_t>(cost.memlimit))
      .bind_blob(6, salt)
      .bind_blob(7, wrapped);
  TILLID_TRY(st.run());
  return static_cast<int>(sqlite3_last_insert_rowid(db.handle()));
}

Result<std::vector<SlotRow>> load_key_slots(Db& db) {
  TILLID_ASSIGN(Stmt st, db.prepare("SELECT id, label, created_unix, kdf_alg, opslimit, memlimit, "
                                    "salt, wrapped_master FROM key_slots ORDER BY id",
                                    "cannot read the key slots"));
  std::vector<SlotRow> out;
  for (;;) {
    TILLID_ASSIGN(bool row, st.step());
    if (!row) break;
    SlotRow s;
    s.id = static_cast<int>(st.int64(0));
    s.label = st.text(1);
    s.created_unix = st.int64(2);
    s.kdf_alg = static_cast<int>(st.int64(3));
    s.opslimit = static_cast<unsigned long long>(st.int64(4));
    s.memlimit = static_cast<std::size_t>(st.int64(5));
    s.salt = st.blob(6);
    s.wrapped_master = st.blob(7);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::optional<Secret>> try_key_slot(const SlotRow& slot, const Id16& vault_id,
                                           const Passphrase& passphrase) {
  if (slot.kdf_alg != crypto_pwhash_ALG_ARGON2ID13)
    return make_error(Errc::unsupported, "key slot " + std::to_string(slot.id) + " uses an unknown KDF");
  TILLID_ASSIGN(Secret kek, derive_passphrase_key(passphrase, slot.salt, slot.opslimit, slot.memlimit));
  if (slot.wrapped_master.size() != kNonceBytes + kKeyBytes + kTagBytes)
    return make_error(Errc::corrupt, "key slot " + std::to_string(slot.id) + " is malformed");
  Secret master(kKeyBytes);
  if (!aead_open(kek, slot.wrapped_master, slot_ad(vault_id, slot.opslimit, slot.memlimit, slot.salt),
                 master.bytes()))
    return std::optional<Secret>();
  return std::optional<Secret>(std::move(master));
}

}  // namespace tillid::detail
