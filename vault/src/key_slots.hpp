// Key slots (FORMAT.md §2.1): the master key wrapped under an Argon2id-derived key, one slot
// per passphrase (officer). Any slot unlocks; the vault id is bound as AD so a slot copied
// from another vault does not open this one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crypto.hpp"
#include "sqlite_db.hpp"
#include "tillid/vault.hpp"

namespace tillid::detail {

struct SlotRow {
  int id = 0;
  std::string label;
  std::int64_t created_unix = 0;
  int kdf_alg = 0;
  unsigned long long opslimit = 0;
  std::size_t memlimit = 0;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> wrapped_master;
};

// FORMAT.md §2.1: a new slot needs a passphrase of at least this many characters and a KDF
// cost of at least KdfCost::interactive(). Only a build configured with -DTILLID_TESTING=ON,
// run with TILLID_TEST_WEAK_KDF=1 in the environment, accepts less (tests stay fast).
inline constexpr std::size_t kMinPassphraseChars = 12;
bool weak_slots_allowed();
// Why a new slot with this passphrase and cost would be too weak, or ok.
Result<void> check_slot_strength(const Passphrase& passphrase, KdfCost cost);

// Wrap `master` for `passphrase` and insert the slot (after check_slot_strength); returns its id.
Result<int> insert_key_slot(Db& db, const Id16& vault_id, const Secret& master,
                            const Passphrase& passphrase, const std::string& label, KdfCost cost);
Result<std::vector<SlotRow>> load_key_slots(Db& db);
// The master key if `passphrase` opens this slot; nullopt if it does not.
Result<std::optional<Secret>> try_key_slot(const SlotRow& slot, const Id16& vault_id,
                                           const Passphrase& passphrase);

}  // namespace tillid::detail
