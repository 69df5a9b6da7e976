// Recording while the vault is locked, and adoption at unlock (FORMAT.md §7.6).
//
// Capture while locked needs only public data: the vault's X25519 recording key (derived from
// the master key, so its secret exists only while unlocked) is read from vault_meta and
// accepted only if the appliance's Ed25519 key signed it. The content key, title, interviewer
// and bookmark labels are sealed to it (crypto_box_seal); the audio chunks are encrypted and
// fdatasync'ed exactly as an unlocked recording's (§7.2). Nothing is signed or MAC'd: there is
// no key. Anyone holding the public key could write the same rows and object, so the disk
// alone never vouches for such a recording.
//
// What vouches is this Vault object's memory (LockedCapture): at the next unlock it adopts
// exactly the captures it made itself and only if their rows and objects are still what it
// wrote — the object re-wrapped under subkey 1, the fields re-sealed under subkey 2, the
// manifest signed (or, for a recording still running, a normal row and work record so that
// finish() signs it). Everything else stays in locked_recordings: verify names it, nothing
// lists or serves it.
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
#include "metadata_seal.hpp"
#include "object_stream.hpp"
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
constexpr std::size_t kWrapBytes = kObjectHeaderBytes - kObjectWrapAdBytes;  // nonce + wrapped key, 72

struct BoxPair {
  X25519Public pk{};
  Secret sk;
};

// FORMAT.md §7.6: seed = subkey 6, pair = crypto_box_seed_keypair(seed).
BoxPair derive_box_pair(const Secret& master) {
  Secret seed = derive_subkey(master, Subkey::recording_box);
  BoxPair p;
  p.sk = Secret(crypto_box_SECRETKEYBYTES);
  crypto_box_seed_keypair(p.pk.data(), p.sk.data(), seed.data());
  return p;
}

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

std::string_view text_of(const Secret& s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

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

struct LockedRow {
  std::string id, case_id, state, creator;
  std::int64_t created_unix = 0;
  std::vector<unsigned char> sealed_key, title, interviewer;
  std::vector<StoredBookmark> bookmarks;
};

Result<std::optional<LockedRow>> load_locked_row(Db& db, const std::string& item_id) {
  TILLID_ASSIGN(Stmt st, db.prepare("SELECT id, case_id, state, created_unix, creator, sealed_key, title, interviewer "
                                    "FROM locked_recordings WHERE id = ?",
                                    "cannot read the recordings made while locked"));
  st.bind(1, item_id);
  TILLID_ASSIGN(bool got, st.step());
  if (!got) return std::optional<LockedRow>();
  LockedRow r;
  r.id = st.text(0);
  r.case_id = st.text(1);
  r.state = st.text(2);
  r.created_unix = st.int64(3);
  r.creator = st.text(4);
  r.sealed_key = st.blob(5);
  r.title = st.blob(6);
  r.interviewer = st.blob(7);
  st.reset();
  TILLID_ASSIGN(Stmt bm, db.prepare("SELECT seq, offset_ms, created_unix, label FROM locked_bookmarks "
                                    "WHERE item_id = ? ORDER BY seq",
                                    "cannot read the recordings made while locked"));
  bm.bind(1, item_id);
  for (;;) {
    TILLID_ASSIGN(bool row, bm.step());
    if (!row) break;
    r.bookmarks.push_back(StoredBookmark{bm.int64(0), bm.int64(1), bm.int64(2), bm.blob(3)});
  }
  return std::optional<LockedRow>(std::move(r));
}

bool same_bookmarks(const std::vector<StoredBookmark>& a, const std::vector<StoredBookmark>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].seq != b[i].seq || a[i].offset_ms != b[i].offset_ms || a[i].created_unix != b[i].created_unix ||
        a[i].label_sealed != b[i].label_sealed)
      return false;
  return true;
}

// The object's header with the §3.2 wrap of `content_key` under subkey 1 in place of the
// zeros written while locked; refused unless its first 56 bytes are the ones this Vault wrote.
Result<std::array<unsigned char, kObjectHeaderBytes>> rewrapped_header(Vault::State& s, const LockedCapture& m, int fd,
                                                                      const Secret& content_key) {
  std::array<unsigned char, kObjectHeaderBytes> h{};
  std::size_t done = 0;
  while (done < h.size()) {
    ssize_t n = ::pread(fd, h.data() + done, h.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(errno, "cannot read a recording's header");
    if (n == 0) return make_error(Errc::corrupt, "object is shorter than its header");
    done += static_cast<std::size_t>(n);
  }
  if (!std::equal(m.header_ad.begin(), m.header_ad.end(), h.begin()))
    return make_error(Errc::corrupt, "object header differs from the one captured");
  const auto wrap = aead_seal(s.keys->item_wrap, content_key.bytes(), {h.data(), kObjectWrapAdBytes});
  if (wrap.size() != kWrapBytes) return make_error(Errc::internal, "content-key wrap has an unexpected length");
  std::copy(wrap.begin(), wrap.end(), h.begin() + kObjectWrapAdBytes);
  return h;
}

// A recording finished while locked: copy its object with the real wrap into tmp/, read the
// copy end to end (every chunk authenticates, size and SHA-256 equal what was captured), and
// only then rename it over the original. At every instant objects/<id> is the capture as
// written or the complete re-wrapped copy.
Result<void> rewrap_finished_object(Vault::State& s, const LockedCapture& m, const Id16& id,
                                    const Secret& content_key) {
  const auto path = s.object_path(m.item_id);
  const auto tmp = s.tmp_object_path(m.item_id);
  TILLID_ASSIGN(Fd in, open_file(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return errno_error(errno, "cannot inspect a recording's object");
  if (!S_ISREG(st.st_mode)) return make_error(Errc::corrupt, "object is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) != m.object_bytes)
    return make_error(Errc::corrupt, "object length differs from the one captured");
  TILLID_ASSIGN(auto header, rewrapped_header(s, m, in.get(), content_key));
  TILLID_TRY(remove_if_exists(tmp));
  auto r = [&]() -> Result<void> {
    TILLID_ASSIGN(Fd out, open_file(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
    TILLID_TRY(write_all(out.get(), header, "cannot write a re-wrapped recording"));
    std::vector<unsigned char> buf(1u << 20);
    std::uint64_t off = kObjectHeaderBytes;
    while (off < m.object_bytes) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), m.object_bytes - off));
      ssize_t n = ::pread(in.get(), buf.data(), want, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error(errno, "cannot read a recording's object");
      if (n == 0) return make_error(Errc::corrupt, "object shrank while it was re-wrapped");
      TILLID_TRY(write_all(out.get(), {buf.data(), static_cast<std::size_t>(n)}, "cannot write a re-wrapped recording"));
      off += static_cast<std::uint64_t>(n);
    }
    TILLID_TRY(fsync_fd(out.get(), "cannot flush a re-wrapped recording"));
    if (::lseek(out.get(), 0, SEEK_SET) != 0) return errno_error(errno, "cannot read back a re-wrapped recording");
    TILLID_ASSIGN(ObjectReader reader, ObjectReader::open(out.get(), id, s.keys->item_wrap, "recording " + m.item_id));
    if (reader.header().kind != ItemKind::recording) return make_error(Errc::corrupt, "object is not a recording");
    TILLID_ASSIGN(StreamDigest d, decrypt_stream(reader, nullptr));
    if (d.size != m.size || d.sha256 != m.sha256)
      return make_error(Errc::corrupt, "object content differs from what was captured");
    TILLID_TRY(out.close_checked("cannot close a re-wrapped recording"));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      return errno_error(errno, "cannot move a re-wrapped recording into place");
    TILLID_TRY(fsync_dir(s.objects_dir()));
    return fsync_dir(s.tmp_dir());
  }();
  if (!r.ok()) (void)remove_if_exists(tmp);
  return r;
}

// A recording still running at unlock: its writer keeps appending to the same file, so the
// wrap is written in place (72 bytes inside the first 4 KiB page) and made durable before the
// row that lets recovery act on it is committed. The file must be the very inode this Vault
// created. Its chunks are not re-read here: finish() signs the SHA-256 of what was captured,
// so any byte changed on disk fails verify (§7.6).
Result<void> rewrap_running_object(Vault::State& s, const LockedCapture& m, const Secret& content_key) {
  TILLID_ASSIGN(Fd f, open_file(s.object_path(m.item_id), O_RDWR | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return errno_error(errno, "cannot inspect a recording's object");
  if (!S_ISREG(st.st_mode) || st.st_dev != m.dev || st.st_ino != m.ino)
    return make_error(Errc::corrupt, "object is not the file this appliance is recording into");
  TILLID_ASSIGN(auto header, rewrapped_header(s, m, f.get(), content_key));
  const std::span<const unsigned char> wrap{header.data() + kObjectWrapAdBytes, kWrapBytes};
  if (::pwrite(f.get(), wrap.data(), wrap.size(), static_cast<off_t>(kObjectWrapAdBytes)) !=
      static_cast<ssize_t>(wrap.size()))
    return errno_error(errno, "cannot write a recording's header");
  if (::fdatasync(f.get()) != 0) return errno_error(errno, "cannot flush a recording's header");
  return f.close_checked("cannot close a recording's object");
}

// Adopt one capture; returns the log details. Touches nothing until every check passed.
Result<std::string> adopt_one(Vault::State& s, const BoxPair& box, const LockedCapture& m) {
  TILLID_ASSIGN(auto found, load_locked_row(s.db, m.item_id));
  if (!found) return make_error(Errc::corrupt, "its row is gone");
  const LockedRow& row = *found;
  // 1. The row is byte for byte what this Vault wrote (sealed blobs included).
  if (row.case_id != m.case_id || row.created_unix != m.created_unix || row.creator != m.creator ||
      locked_row_digest(row.id, row.case_id, row.created_unix, row.creator, row.sealed_key, row.title,
                        row.interviewer) != m.row_digest)
    return make_error(Errc::corrupt, "its row differs from what was captured");
  if (row.state != (m.finished ? "finished" : "recording"))
    return make_error(Errc::corrupt, "its state differs from what was captured");
  if (!same_bookmarks(row.bookmarks, m.bookmarks))
    return make_error(Errc::corrupt, "its bookmarks differ from what was captured");
  Id16 id{};
  if (!parse_id(m.item_id, id)) return make_error(Errc::internal, "malformed id");
  // 2. Open what was sealed to the vault key (it must open: this Vault sealed it).
  TILLID_ASSIGN(Secret content_key, open_from_vault(box, "content_key", m.item_id, row.sealed_key));
  if (content_key.size() != kKeyBytes) return make_error(Errc::corrupt, "its content key has the wrong length");
  TILLID_ASSIGN(Secret title, open_from_vault(box, "title", m.item_id, row.title));
  TILLID_ASSIGN(Secret interviewer, open_from_vault(box, "interviewer", m.item_id, row.interviewer));
  // 3. The item row as an unlocked recording has it: fields re-sealed under subkey 2.
  ItemRow item;
  item.info.id = m.item_id;
  item.info.case_id = m.case_id;
  item.info.kind = ItemKind::recording;
  item.info.created_unix = m.created_unix;
  item.info.creator = m.creator;
  item.state = m.finished ? "sealed" : "recording";
  item.title_sealed = seal_field(s.keys->meta, s.vault_id, {"items", "title", m.item_id}, text_of(title));
  item.file_name_sealed =
      seal_field(s.keys->meta, s.vault_id, {"items", "file_name", m.item_id}, default_file_name(m.created_unix));
  item.interviewer_sealed =
      seal_field(s.keys->meta, s.vault_id, {"items", "interviewer", m.item_id}, text_of(interviewer));
  for (const auto& b : row.bookmarks) {
    const std::string rid = bookmark_row_id(m.item_id, b.seq);
    TILLID_ASSIGN(Secret label, open_from_vault(box, "label", rid, b.label_sealed));
    item.bookmarks.push_back(StoredBookmark{b.seq, b.offset_ms, b.created_unix,
                                            seal_field(s.keys->meta, s.vault_id, {"bookmarks", "label", rid},
                                                       text_of(label))});
  }
  item.info.bookmark_count = item.bookmarks.size();
  Signature sig{};
  WorkRecord work;
  if (m.finished) {
    item.info.size = m.size;
    item.info.sha256 = m.sha256;
    item.info.duration_ms = m.duration_ms;
    TILLID_ASSIGN(Manifest man, manifest_for(s, item));  // v3 (§5.1); the case must verify first
    sig = sign_manifest(s.keys->signing_sk, man);
  } else {
    work = new_work_record(WorkOp::recording, id, m.case_id, ItemKind::recording, m.created_unix, m.creator,
                           item.title_sealed, item.file_name_sealed, item.interviewer_sealed);
    work.bookmark_count = static_cast<std::uint32_t>(item.bookmarks.size());
    work.bookmarks_sha256 = bookmarks_digest(item.bookmarks);
    TILLID_TRY(manifest_for(s, item));  // the case still verifies: finish() will sign it
  }
  // 4. The object: re-wrapped and durable before the row that makes it an item.
  if (m.finished) TILLID_TRY(rewrap_finished_object(s, m, id, content_key));
  else TILLID_TRY(rewrap_running_object(s, m, content_key));
  // 5. One commit: the item (sealed and signed, or recording with its work record), its
  // bookmarks, and the locked rows gone.
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot adopt a recording made while locked"));
  TILLID_ASSIGN(Stmt ins, s.db.prepare("INSERT INTO items (id, case_id, kind, state, size, sha256, title, file_name, "
                                       "created_unix, creator, signature, interviewer, duration_ms, interrupted, "
                                       "interrupted_unix) VALUES (?,?,'recording',?,?,?,?,?,?,?,?,?,?,0,0)",
                                       "cannot adopt a recording made while locked"));
  ins.bind(1, m.item_id).bind(2, m.case_id).bind(3, item.state);
  if (m.finished) ins.bind(4, static_cast<std::int64_t>(m.size)).bind_blob(5, m.sha256);
  ins.bind_blob(6, item.title_sealed)
      .bind_blob(7, item.file_name_sealed)
      .bind(8, m.created_unix)
      .bind(9, m.creator);
  if (m.finished) ins.bind_blob(10, sig);
  ins.bind_blob(11, item.interviewer_sealed).bind(12, m.finished ? m.duration_ms : std::int64_t{0});
  TILLID_TRY(ins.run());
  TILLID_ASSIGN(Stmt bm, s.db.prepare("INSERT INTO bookmarks (item_id, seq, offset_ms, created_unix, label) "
                                      "VALUES (?,?,?,?,?)",
                                      "cannot adopt a recording made while locked"));
  for (const auto& b : item.bookmarks) {
    bm.reset();
    bm.bind(1, m.item_id).bind(2, b.seq).bind(3, b.offset_ms).bind(4, b.created_unix).bind_blob(5, b.label_sealed);
    TILLID_TRY(bm.run());
  }
  if (!m.finished) TILLID_TRY(put_work(s, m.item_id, work));
  for (const char* sql : {"DELETE FROM locked_bookmarks WHERE item_id = ?", "DELETE FROM locked_recordings WHERE id = ?"}) {
    TILLID_ASSIGN(Stmt del, s.db.prepare(sql, "cannot adopt a recording made while locked"));
    del.bind(1, m.item_id);
    TILLID_TRY(del.run());
  }
  TILLID_TRY(tx.commit());
  if (!m.finished) {
    // From here the writer is an ordinary recording: bookmarks rewrite the work record and
    // finish() signs (recording.cpp). Both read these under the vault mutex we hold.
    Recording::Impl& im = *m.live;
    im.work = std::move(work);
    im.stored_bookmarks = std::move(item.bookmarks);
    im.locked_capture = false;
    return std::string("running");
  }
  return "duration_ms=" + std::to_string(m.duration_ms);
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

}  // namespace

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
  const std::array<unsigned char, kWrapBytes> zeros{};
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

Result<void> adopt_locked_recordings(Vault::State& s) {
  TILLID_TRY(s.require_unlocked());
  const BoxPair box = derive_box_pair(s.keys->master);
  TILLID_TRY(ensure_recording_key(s, box));
  // Each capture is tried once: one refused now (its disk copy changed) stays refused.
  std::vector<LockedCapture> made = std::move(s.locked_captures.made);
  s.locked_captures.made.clear();
  for (const LockedCapture& m : made) {
    if (!m.finished && m.live == nullptr) {
      TILLID_TRY(s.record_event(LogAction::record_adopted, m.case_id, m.item_id, LogOutcome::failed,
                                "left as captured: it ended without finish while locked"));
      continue;
    }
    auto r = adopt_one(s, box, m);
    if (!r.ok()) {
      // The checks' own refusals (corrupt) name only what differs; any other error (I/O,
      // a missing file) may carry a path, so the log gets its code name only.
      const std::string why = r.error().code == Errc::corrupt ? r.error().message : to_string(r.error().code);
      TILLID_TRY(s.record_event(LogAction::record_adopted, m.case_id, m.item_id, LogOutcome::failed,
                                "left as captured: " + why));
      continue;
    }
    TILLID_TRY(s.record_event(LogAction::record_adopted, m.case_id, m.item_id, LogOutcome::ok, r.value()));
  }
  return {};
}

Result<void> report_locked_captures(Vault::State& s, std::set<std::string>& known,
                                    std::map<std::string, std::string>& states, VerifyReport& rep) {
  TILLID_ASSIGN(Stmt st, s.db.prepare("SELECT id FROM locked_recordings ORDER BY created_unix, id",
                                      "cannot read the recordings made while locked"));
  for (;;) {
    TILLID_ASSIGN(bool row, st.step());
    if (!row) break;
    const std::string id = st.text(0);
    known.insert(id);
    states.try_emplace(id, "locked");  // a planted row cannot relabel a genuine item's state
    rep.problems.push_back(
        {std::string(loggable_id(id)),
         "recording captured while the vault was locked; provenance not vouched for (FORMAT.md §7.6): nothing shows "
         "this appliance made it rather than someone holding only the public recording key, so it is not signed, "
         "listed or served; its audio stays sealed to the vault key; see its record_adopted log entry, if any"});
  }
  return {};
}

}  // namespace tillid::detail
