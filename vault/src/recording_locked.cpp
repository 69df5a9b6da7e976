// Recording while the vault is locked (FORMAT.md §7.6): the vault's X25519 recording key and
// sealing to it, and capture — begin, bookmark, finish — with nothing but that public key.
//
// Capture while locked needs only public data: the vault's X25519 recording key (derived from
// the master key, so its secret exists only while unlocked) is read from vault_meta and
// accepted only if the appliance's Ed25519 key signed it. The content key, title, interviewer
// and bookmark labels are sealed to it (crypto_box_seal); the audio chunks are encrypted and
// fdatasync'ed exactly as an unlocked recording's (§7.2). Nothing is signed or MAC'd: there is
// no key. Anyone holding the public key could write the same rows and object, so the disk
// alone never vouches for such a recording: the Vault remembers what it captured
// (LockedCapture) and only that is adopted at unlock (recording_adopt.cpp).
#include "recording_locked.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "case_rows.hpp"
#include "item_rows.hpp"
#include "recording_impl.hpp"
#include "vault_state.hpp"

namespace tillid::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKeyTag = "tillid.recording-key.v1";
constexpr std::string_view kSealTag = "tillid.locked.v1";
constexpr std::size_t kPadBlock = 32;
constexpr const char* kPublicKeyMeta = "recording_public_key";
constexpr const char* kSignatureMeta = "recording_key_signature";

std::vector<unsigned char> seal_prefix(std::string_view field, std::string_view row_id) {
  std::vector<unsigned char> p;
  put_str(p, kSealTag);
  p.push_back(0);
  put_str(p, field);
  p.push_back(0);
  put_str(p, row_id);
  p.push_back(0);
  return p;
}

Result<std::optional<std::vector<unsigned char>>> meta_value(Db& db, const char* key) {
  TILLID_ASSIGN(Stmt st, db.prepare("SELECT value FROM vault_meta WHERE key = ?", "cannot read vault metadata"));
  st.bind(1, std::string_view(key));
  TILLID_ASSIGN(bool row, st.step());
  if (!row) return std::optional<std::vector<unsigned char>>();
  return std::optional<std::vector<unsigned char>>(st.blob(0));
}

// The recording key as vault_meta holds it, if it is there, well formed and signed.
Result<std::optional<X25519Public>> signed_recording_key(Vault::State& s) {
  TILLID_ASSIGN(auto pk_bytes, meta_value(s.db, kPublicKeyMeta));
  TILLID_ASSIGN(auto sig, meta_value(s.db, kSignatureMeta));
  if (!pk_bytes || !sig || pk_bytes->size() != crypto_box_PUBLICKEYBYTES || sig->size() != crypto_sign_BYTES)
    return std::optional<X25519Public>();
  X25519Public pk{};
  std::copy(pk_bytes->begin(), pk_bytes->end(), pk.begin());
  const auto msg = recording_key_statement(s.vault_id, pk);
  if (crypto_sign_verify_detached(sig->data(), msg.data(), msg.size(), s.signing_pk.data()) != 0)
    return std::optional<X25519Public>();
  return std::optional<X25519Public>(pk);
}

// While locked: the key to seal to, or a refusal. Nothing is ever sealed to a key the
// appliance did not sign, nor to one other than the key this process already knows.
Result<X25519Public> recording_key_for_capture(Vault::State& s) {
  TILLID_ASSIGN(auto present, meta_value(s.db, kPublicKeyMeta));
  if (!present)
    return make_error(Errc::locked, "this vault has no recording key yet (it is made when the vault is created or "
                                    "first unlocked by this version); unlock it once, then recording works while locked");
  TILLID_ASSIGN(auto pk, signed_recording_key(s));
  if (!pk)
    return make_error(Errc::corrupt, "the vault's recording key is not signed by the appliance key (vault metadata "
                                     "altered); nothing was recorded; unlock the vault to record and run verify");
  if (s.locked_captures.pinned && *s.locked_captures.pinned != *pk)
    return make_error(Errc::corrupt, "the vault's recording key differs from the one this appliance derived (vault "
                                     "metadata altered); nothing was recorded; unlock the vault to record");
  s.locked_captures.pinned = *pk;
  return *pk;
}

// A case for a locked capture: found by id or number among the clear columns, and only if
// the appliance signed it (§5.4), since nothing sealed can be opened.
Result<CaseRow> find_signed_case(Vault::State& s, const std::string& ref) {
  TILLID_ASSIGN(auto rows, load_case_rows(s.db));
  for (auto& c : rows) {
    if (c.id != ref && c.case_number != ref) continue;
    if (!case_row_verifies(s.signing_pk, c))
      return make_error(Errc::corrupt, case_label(c) + ": the case signature does not verify; nothing was recorded; "
                                                       "run verify");
    return std::move(c);
  }
  return make_error(Errc::not_found, "there is no such case; give its id or case number");
}

LockedCapture* find_capture(Vault::State& s, const std::string& item_id) {
  for (auto& m : s.locked_captures.made)
    if (m.item_id == item_id) return &m;
  return nullptr;
}

}  // namespace

// FORMAT.md §7.6: seed = subkey 6, pair = crypto_box_seed_keypair(seed).
BoxPair derive_box_pair(const Secret& master) {
  Secret seed = derive_subkey(master, Subkey::recording_box);
  BoxPair p;
  p.sk = Secret(crypto_box_SECRETKEYBYTES);
  crypto_box_seed_keypair(p.pk.data(), p.sk.data(), seed.data());
  return p;
}

Result<Secret> open_from_vault(const BoxPair& box, std::string_view field, std::string_view row_id,
                               std::span<const unsigned char> sealed) {
  const std::string what = "the " + std::string(field) + " sealed while locked";
  if (sealed.size() < crypto_box_SEALBYTES) return make_error(Errc::corrupt, what + " is too short");
  Secret plain(sealed.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(plain.data(), sealed.data(), sealed.size(), box.pk.data(), box.sk.data()) != 0)
    return make_error(Errc::corrupt, what + " does not open with the vault's recording key");
  const auto prefix = seal_prefix(field, row_id);
  if (plain.size() < prefix.size() + kPadBlock || std::memcmp(plain.data(), prefix.data(), prefix.size()) != 0)
    return make_error(Errc::corrupt, what + " belongs to another field or recording");
  std::size_t len = 0;
  if (sodium_unpad(&len, plain.data() + prefix.size(), plain.size() - prefix.size(), kPadBlock) != 0)
    return make_error(Errc::corrupt, what + " has bad padding");
  return Secret::copy_of({plain.data() + prefix.size(), len});
}

// vault_meta holds this vault's recording key, signed; restore it if it is missing (a vault
// older than schema v4, created before this version) or not the derived one.
Result<void> ensure_recording_key(Vault::State& s, const BoxPair& box) {
  TILLID_ASSIGN(auto present, meta_value(s.db, kPublicKeyMeta));
  TILLID_ASSIGN(auto pk, signed_recording_key(s));
  s.locked_captures.pinned = box.pk;
  if (pk && *pk == box.pk) return {};
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot store the vault's recording key"));
  TILLID_TRY(store_recording_key(s.db, s.vault_id, s.keys->master, s.keys->signing_sk));
  TILLID_TRY(tx.commit());
  if (!present) return {};
  return s.record_event(LogAction::recovery, "", "", LogOutcome::ok,
                        "recording key in vault metadata was altered; restored");
}

std::vector<unsigned char> recording_key_statement(const Id16& vault_id, const X25519Public& pk) {
  std::vector<unsigned char> msg;
  put_str(msg, kKeyTag);
  msg.push_back(0);
  put_bytes(msg, vault_id);
  put_bytes(msg, pk);
  return msg;
}

Result<X25519Public> store_recording_key(Db& db, const Id16& vault_id, const Secret& master, const Secret& signing_sk) {
  const BoxPair box = derive_box_pair(master);
  const auto msg = recording_key_statement(vault_id, box.pk);
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), signing_sk.data());
  TILLID_ASSIGN(Stmt st, db.prepare("INSERT OR REPLACE INTO vault_meta (key, value) VALUES (?, ?), (?, ?)",
                                    "cannot store the vault's recording key"));
  st.bind(1, std::string_view(kPublicKeyMeta)).bind_blob(2, box.pk).bind(3, std::string_view(kSignatureMeta)).bind_blob(4, sig);
  TILLID_TRY(st.run());
  return box.pk;
}

Sha256Digest locked_row_digest(std::string_view item_id, std::string_view case_id, std::int64_t created_unix,
                               std::string_view creator, std::span<const unsigned char> sealed_key,
                               std::span<const unsigned char> title, std::span<const unsigned char> interviewer) {
  std::vector<unsigned char> enc;
  put_str(enc, "tillid.locked-row.v1");
  enc.push_back(0);
  for (std::string_view t : {item_id, case_id, creator}) {
    put_u32le(enc, static_cast<std::uint32_t>(t.size()));
    put_str(enc, t);
  }
  put_u64le(enc, static_cast<std::uint64_t>(created_unix));
  for (auto b : {sealed_key, title, interviewer}) {
    put_u32le(enc, static_cast<std::uint32_t>(b.size()));
    put_bytes(enc, b);
  }
  Sha256Digest d{};
  crypto_hash_sha256(d.data(), enc.data(), enc.size());
  return d;
}

std::vector<unsigned char> seal_to_vault(const X25519Public& pk, std::string_view field, std::string_view row_id,
                                         std::span<const unsigned char> value) {
  const auto prefix = seal_prefix(field, row_id);
  // Padded like §4's sealed fields, so the length of a name or label leaks only in 32-byte steps.
  Secret plain(prefix.size() + value.size() + kPadBlock);
  std::copy(prefix.begin(), prefix.end(), plain.data());
  std::copy(value.begin(), value.end(), plain.data() + prefix.size());
  std::size_t padded = 0;
  sodium_pad(&padded, plain.data() + prefix.size(), value.size(), kPadBlock, plain.size() - prefix.size());
  std::vector<unsigned char> out(crypto_box_SEALBYTES + prefix.size() + padded);
  crypto_box_seal(out.data(), plain.data(), prefix.size() + padded, pk.data());
  return out;
}

void forget_live_capture(Vault::State& s, const Recording::Impl* im) {
  for (auto& m : s.locked_captures.made)
    if (m.live == im) m.live = nullptr;
}

Result<std::unique_ptr<Recording::Impl>> begin_locked_capture(Vault::State& s, Begun& b, const std::string& case_ref,
                                                              const std::string& interviewer, const std::string& title,
                                                              const std::optional<fs::path>& mirror_dir) {
  TILLID_ASSIGN(X25519Public pk, recording_key_for_capture(s));
  TILLID_ASSIGN(CaseRow c, find_signed_case(s, case_ref));
  TILLID_TRY(check_text("the interviewer", interviewer, 200, true));
  TILLID_TRY(check_text("the title", title, 1000, false));
  if (mirror_dir) {
    std::error_code ec;
    if (!fs::is_directory(*mirror_dir, ec))
      return make_error(Errc::not_found, "the mirror directory " + mirror_dir->string() +
                                             " does not exist or is not a directory; create it first");
  }
  Id16 id = random_id();
  b.id = to_hex(id);
  b.locked = true;
  auto im = std::make_unique<Recording::Impl>();
  im->item_id = b.id;
  im->case_id = c.id;
  im->locked_capture = true;
  im->box_pk = pk;
  LockedCapture m;
  m.item_id = b.id;
  m.case_id = c.id;
  m.created_unix = static_cast<std::int64_t>(std::time(nullptr));
  m.creator = s.actor.id;
  Secret content_key = Secret::random(kKeyBytes);
  {  // the row first, as §7.1: an object is never without the row that explains it
    const auto sealed_key = seal_to_vault(pk, "content_key", b.id, content_key.bytes());
    const auto title_sealed = seal_to_vault(pk, "title", b.id, as_bytes(title));
    const auto interviewer_sealed = seal_to_vault(pk, "interviewer", b.id, as_bytes(interviewer));
    m.row_digest = locked_row_digest(b.id, c.id, m.created_unix, m.creator, sealed_key, title_sealed,
                                     interviewer_sealed);
    TILLID_ASSIGN(Stmt st, s.db.prepare("INSERT INTO locked_recordings (id, case_id, state, created_unix, creator, "
                                        "sealed_key, title, interviewer) VALUES (?,?,'recording',?,?,?,?,?)",
                                        "cannot record the new recording"));
    st.bind(1, b.id)
        .bind(2, c.id)
        .bind(3, m.created_unix)
        .bind(4, m.creator)
        .bind_blob(5, sealed_key)
        .bind_blob(6, title_sealed)
        .bind_blob(7, interviewer_sealed);
    TILLID_TRY(st.run());
    b.row_inserted = true;
  }
  TILLID_ASSIGN(im->fd, open_file(s.object_path(b.id), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  b.object_created = true;
  {
    // §3.2 header, but no key can wrap the content key while locked: the writer wraps it under
    // a throwaway key, whose 72 bytes are then zeroed. Adoption writes the real wrap.
    const Secret throwaway = Secret::random(kKeyBytes);
    TILLID_ASSIGN(ObjectWriter w, ObjectWriter::begin(im->fd.get(), id, ItemKind::recording, kRecordingChunkSize,
                                                      content_key, throwaway));
    im->writer.emplace(std::move(w));
  }
  const std::array<unsigned char, kObjectWrapBytes> zeros{};
  if (::pwrite(im->fd.get(), zeros.data(), zeros.size(), static_cast<off_t>(kObjectWrapAdBytes)) !=
      static_cast<ssize_t>(zeros.size()))
    return errno_error(errno, "cannot write the new recording");
  if (::pread(im->fd.get(), m.header_ad.data(), m.header_ad.size(), 0) != static_cast<ssize_t>(m.header_ad.size()))
    return errno_error(errno, "cannot read back the new recording");
  struct stat st {};
  if (::fstat(im->fd.get(), &st) != 0) return errno_error(errno, "cannot inspect the new recording");
  m.dev = st.st_dev;
  m.ino = st.st_ino;
  if (::fdatasync(im->fd.get()) != 0) return errno_error(errno, "cannot flush the new recording");
  TILLID_TRY(fsync_dir(s.objects_dir()));
  if (mirror_dir) TILLID_TRY(start_mirror(*im, b, *mirror_dir));
  TILLID_ASSIGN(Sha256 sha, Sha256::create());
  im->sha.emplace(std::move(sha));
  im->s = &s;
  s.live_recordings.insert(b.id);
  m.live = im.get();
  s.locked_captures.made.push_back(std::move(m));
  return im;
}

Result<Bookmark> locked_bookmark(Vault::State& s, Recording::Impl& im, Bookmark b) {
  const std::string rid = bookmark_row_id(im.item_id, b.seq);
  const auto label_sealed = seal_to_vault(im.box_pk, "label", rid, as_bytes(b.label));
  TILLID_ASSIGN(Stmt st, s.db.prepare("INSERT INTO locked_bookmarks (item_id, seq, offset_ms, created_unix, label) "
                                      "VALUES (?,?,?,?,?)",
                                      "cannot store the bookmark"));
  st.bind(1, im.item_id).bind(2, std::int64_t{b.seq}).bind(3, b.offset_ms).bind(4, b.created_unix).bind_blob(5, label_sealed);
  TILLID_TRY(st.run());
  if (LockedCapture* m = find_capture(s, im.item_id))
    m->bookmarks.push_back(StoredBookmark{b.seq, b.offset_ms, b.created_unix, label_sealed});
  return b;
}

Result<ItemInfo> finish_locked_capture(Vault::State& s, Recording::Impl& im, const Sha256Digest& sha256) {
  TILLID_ASSIGN(Stmt st, s.db.prepare("UPDATE locked_recordings SET state = 'finished', size = ?, sha256 = ?, "
                                      "duration_ms = ? WHERE id = ? AND state = 'recording'",
                                      "cannot close the recording"));
  st.bind(1, static_cast<std::int64_t>(im.size)).bind_blob(2, sha256).bind(3, im.duration_ms).bind(4, im.item_id);
  TILLID_TRY(st.run());
  if (sqlite3_changes(s.db.handle()) != 1)
    return make_error(Errc::corrupt, "the recording's row vanished before it was closed; its audio is kept");
  ItemInfo info;
  info.id = im.item_id;
  info.case_id = im.case_id;
  info.kind = ItemKind::recording;
  info.size = im.size;
  info.sha256 = sha256;
  info.duration_ms = im.duration_ms;
  info.verified = false;  // nothing is signed until this Vault adopts it at unlock
  if (LockedCapture* m = find_capture(s, im.item_id)) {
    m->finished = true;
    m->size = im.size;
    m->sha256 = sha256;
    m->duration_ms = im.duration_ms;
    m->object_bytes = im.writer->object_bytes();
    m->live = nullptr;
    info.created_unix = m->created_unix;
    info.creator = m->creator;
    info.bookmark_count = m->bookmarks.size();
  }
  return info;
}

}  // namespace tillid::detail
