// Work records: see work_record.hpp and FORMAT.md §6.1.
#include "work_record.hpp"

#include <sodium.h>

namespace tillid::detail {

namespace {

Digest32 sha256_of(std::span<const unsigned char> b) {
  Digest32 d{};
  crypto_hash_sha256(d.data(), b.data(), b.size());
  return d;
}

}  // namespace

WorkRecord new_work_record(WorkOp op, const Id16& item_id, const std::string& case_id, ItemKind kind,
                           std::int64_t created_unix, const std::string& creator,
                           std::span<const unsigned char> title_sealed,
                           std::span<const unsigned char> file_name_sealed,
                           std::span<const unsigned char> interviewer_sealed) {
  WorkRecord w;
  w.op = op;
  w.item_id = item_id;
  if (!parse_id(case_id, w.case_id)) w.case_id = {};
  w.kind = kind;
  w.created_unix = created_unix;
  w.creator = creator;
  w.title_sha256 = sha256_of(title_sealed);
  w.file_name_sha256 = sha256_of(file_name_sealed);
  w.interviewer_sha256 = sha256_of(interviewer_sealed);
  w.bookmarks_sha256 = bookmarks_digest({});
  return w;
}

WorkRecord work_record_of(const ItemRow& row, WorkOp op) {
  Id16 id{};
  if (!parse_id(row.info.id, id)) id = {};
  WorkRecord w = new_work_record(op, id, row.info.case_id, row.info.kind, row.info.created_unix, row.info.creator,
                                 row.title_sealed, row.file_name_sealed, row.interviewer_sealed);
  w.bookmark_count = static_cast<std::uint32_t>(row.bookmarks.size());
  w.bookmarks_sha256 = bookmarks_digest(row.bookmarks);
  return w;
}

std::vector<unsigned char> encode_work_record(const WorkRecord& w) {
  // FORMAT.md §6.1: fixed order and widths, little-endian, one length-prefixed string.
  std::vector<unsigned char> out;
  put_str(out, "tillid.work.v1");
  out.push_back(0);
  out.push_back(static_cast<unsigned char>(w.op));
  put_bytes(out, w.item_id);
  put_bytes(out, w.case_id);
  out.push_back(w.kind == ItemKind::recording ? 2 : 1);
  put_u64le(out, static_cast<std::uint64_t>(w.created_unix));
  put_u32le(out, static_cast<std::uint32_t>(w.creator.size()));
  put_str(out, w.creator);
  put_bytes(out, w.title_sha256);
  put_bytes(out, w.file_name_sha256);
  put_bytes(out, w.interviewer_sha256);
  put_u32le(out, w.bookmark_count);
  put_bytes(out, w.bookmarks_sha256);
  return out;
}

std::array<unsigned char, 32> work_mac(const Secret& work_key, const Id16& vault_id,
                                       std::span<const unsigned char> record) {
  // HMAC-SHA-512-256 (crypto_auth) under subkey 4 over "tillid.work-mac.v1" ‖ 0x00 ‖ vault id
  // ‖ record. Only a holder of the master key can make one; the vault id stops a record being
  // carried to another vault that shares a passphrase.
  static_assert(crypto_auth_BYTES == 32 && crypto_auth_KEYBYTES == kKeyBytes);
  std::vector<unsigned char> msg;
  put_str(msg, "tillid.work-mac.v1");
  msg.push_back(0);
  put_bytes(msg, vault_id);
  put_bytes(msg, record);
  std::array<unsigned char, 32> mac{};
  crypto_auth(mac.data(), msg.data(), msg.size(), work_key.data());
  return mac;
}

std::array<unsigned char, 32> work_mac(const Vault::State& s, std::span<const unsigned char> record) {
  return work_mac(derive_subkey(s.keys->master, Subkey::work_mac), s.vault_id, record);
}

Result<void> put_work(Vault::State& s, const std::string& item_id, const WorkRecord& w) {
  auto rec = encode_work_record(w);
  auto mac = work_mac(s, rec);
  TILLID_ASSIGN(Stmt st, s.db.prepare("INSERT OR REPLACE INTO work (item_id, record, mac) VALUES (?,?,?)",
                                      "cannot record the work in progress"));
  st.bind(1, item_id).bind_blob(2, rec).bind_blob(3, mac);
  return st.run();
}

Result<void> remove_work(Vault::State& s, const std::string& item_id) {
  TILLID_ASSIGN(Stmt st, s.db.prepare("DELETE FROM work WHERE item_id = ?", "cannot remove the work record"));
  st.bind(1, item_id);
  return st.run();
}

Result<void> check_work(Vault::State& s, const ItemRow& row) {
  auto bad = [](std::string what) { return make_error(Errc::corrupt, std::move(what)); };
  if (!row.kind_known) return bad("kind unknown");
  // Ids exactly as the appliance writes them (lowercase hex), so no second spelling of an id
  // can lead a lookup by text (the case row, the log) somewhere the record does not say.
  Id16 raw{};
  if (!parse_id(row.info.id, raw) || to_hex(raw) != row.info.id) return bad("item id malformed");
  if (!parse_id(row.info.case_id, raw) || to_hex(raw) != row.info.case_id) return bad("case id malformed");
  WorkOp op;
  if (row.state == "pending") op = WorkOp::add;
  else if (row.state == "recording") op = WorkOp::recording;
  else return bad("state not in progress");
  TILLID_ASSIGN(Stmt st, s.db.prepare("SELECT record, mac FROM work WHERE item_id = ?", "cannot read the work record"));
  st.bind(1, row.info.id);
  TILLID_ASSIGN(bool found, st.step());
  if (!found) return bad("no work record");
  const auto record = st.blob(0);
  const auto mac = st.blob(1);
  const auto expected_mac = work_mac(s, record);
  if (mac.size() != expected_mac.size() || sodium_memcmp(mac.data(), expected_mac.data(), mac.size()) != 0)
    return bad("work record not authentic");
  // The MAC says the appliance wrote this record; equality says the row still holds exactly
  // what it wrote (state, item, case, kind, time, creator, sealed fields, bookmarks).
  if (record != encode_work_record(work_record_of(row, op))) return bad("work record does not match the row");
  return {};
}

}  // namespace tillid::detail
