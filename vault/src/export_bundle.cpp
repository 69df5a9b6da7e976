// Writing a court export bundle (EXPORT-FORMAT.md): Vault::export_item. The bundle is
// assembled in a temporary directory beside the destination, every file fsynced, then renamed
// into place and the parent fsynced, so a reader never sees half a bundle and a failure leaves
// nothing behind. The export is logged (export_made) and a checkpoint signed BEFORE the
// inclusion proofs are built, so the bundle carries a proof of its own export entry.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "access_log_format.hpp"
#include "export_format.hpp"
#include "item_rows.hpp"
#include "object_stream.hpp"
#include "posix_io.hpp"
#include "sha256.hpp"
#include "tillid/export.hpp"
#include "vault_state.hpp"

namespace tillid {

using namespace detail;
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

struct BundleFile {
  std::string name;
  std::uint64_t size = 0;
  std::string sha256_hex;
};

// Create `dir/name` (never replacing anything), write `bytes`, fsync, close.
Result<BundleFile> write_new_file(const fs::path& dir, const std::string& name,
                                  std::span<const unsigned char> bytes) {
  const fs::path p = dir / name;
  TILLID_ASSIGN(Fd fd, open_file(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC));
  TILLID_TRY(write_all(fd.get(), bytes, "cannot write " + p.string()));
  TILLID_TRY(fsync_fd(fd.get(), "cannot flush " + p.string()));
  TILLID_TRY(fd.close_checked("cannot close " + p.string()));
  TILLID_ASSIGN(Sha256 h, Sha256::create());
  h.update(bytes);
  TILLID_ASSIGN(Sha256Digest d, h.finish());
  return BundleFile{name, bytes.size(), to_hex(d)};
}

Result<BundleFile> write_new_file(const fs::path& dir, const std::string& name, std::string_view text) {
  return write_new_file(dir, name, as_bytes(text));
}

// README.txt (EXPORT-FORMAT.md §4): for the people who receive the bundle, in Danish and
// English, with the commands that check it using only common tools.
std::string readme_text(const ItemInfo& item, const CaseInfo& c, const std::string& content_file,
                        const std::string& exported_iso, const std::string& pk_hex) {
  std::string s;
  s += "Tillid - eksport til retten / court export\n";  // UTF-8 text
  s += "==========================================\n\n";
  s += "Sag / case:        " + c.case_number + " (kommune / municipality " + c.municipality + ")\n";
  s += "Element / item:    " + item.id + " (" + to_string(item.kind) + ")\n";
  s += "Fil / file:        " + content_file + "\n";
  s += "Størrelse / size:  " + std::to_string(item.size) + " bytes\n";
  s += "SHA-256:           " + to_hex(item.sha256) + "\n";
  s += "Eksporteret / exported: " + exported_iso + "\n";
  s += "Offentlig nøgle / public key (Ed25519, hex): " + pk_hex + "\n\n";
  s += "DANSK\n-----\n";
  s += "Denne mappe er en eksport fra en Tillid-boks i et børnehus. Filen " + content_file + "\n";
  s += "er det oprindelige materiale, dekrypteret og kontrolleret ved eksporten.\n";
  s += "manifest.json beskriver elementet (sag, størrelse, SHA-256, tidspunkt, opretter),\n";
  s += "boksens signatur og adgangslogens poster om elementet med Merkle-beviser (RFC 9162)\n";
  s += "til et signeret checkpoint, herunder posten for denne eksport.\n\n";
  s += "Kontrol med almindelige værktøjer (i denne mappe):\n";
  s += "  1. sha256sum -c SHA256SUMS\n";
  s += "     (alle filer skal give OK; SHA-256 for " + content_file + " skal være som ovenfor)\n";
  s += "  2. openssl pkeyutl -verify -pubin -inkey appliance.pem -rawin -in manifest.bin -sigfile manifest.sig\n";
  s += "     (boksens signatur over elementets manifest; skal skrive \"Signature Verified Successfully\")\n";
  s += "  3. openssl pkeyutl -verify -pubin -inkey appliance.pem -rawin -in manifest.json -sigfile manifest.json.sig\n";
  s += "     (boksens signatur over manifest.json)\n";
  s += "  4. tillid verify-export <mappe>   (kontrollerer alt, også adgangslogens beviser)\n";
  s += "     tillid verify-export --key <nøgle> <mappe>   med en nøgle modtaget ad anden vej.\n";
  s += "Nøglen i appliance.pem kommer fra bundtet selv; sammenlign den med en nøgle, I har\n";
  s += "fået direkte fra børnehuset eller tilsynet, før I stoler på signaturen.\n\n";
  s += "ENGLISH\n-------\n";
  s += "This directory is an export from a Tillid appliance in a child advocacy centre. The file\n";
  s += content_file + " is the original material, decrypted and verified at export.\n";
  s += "manifest.json describes the item (case, size, SHA-256, time, creator), the appliance's\n";
  s += "signature, and the access-log entries about the item with Merkle inclusion proofs\n";
  s += "(RFC 9162) to a signed checkpoint, including the entry for this export.\n\n";
  s += "Check with common tools (in this directory):\n";
  s += "  1. sha256sum -c SHA256SUMS\n";
  s += "     (every file must say OK; the SHA-256 of " + content_file + " must be as above)\n";
  s += "  2. openssl pkeyutl -verify -pubin -inkey appliance.pem -rawin -in manifest.bin -sigfile manifest.sig\n";
  s += "     (the appliance's signature over the item manifest; prints \"Signature Verified Successfully\")\n";
  s += "  3. openssl pkeyutl -verify -pubin -inkey appliance.pem -rawin -in manifest.json -sigfile manifest.json.sig\n";
  s += "     (the appliance's signature over manifest.json)\n";
  s += "  4. tillid verify-export <directory>   (checks everything, including the log proofs)\n";
  s += "     tillid verify-export --key <key> <directory>   with a key obtained independently.\n";
  s += "The key in appliance.pem comes from the bundle itself; compare it with a key you received\n";
  s += "directly from the centre or the supervisory authority before relying on the signatures.\n\n";
  s += "Format: tillid-export version 2 (EXPORT-FORMAT.md in the Tillid source).\n";
  return s;
}

ojson entry_json(const LogEntry& e, const InclusionProof& proof) {
  ojson path = ojson::array();
  for (const auto& h : proof.path) path.push_back(logfmt::base64(h));
  return ojson{{"seq", e.seq},
               {"time", exportfmt::iso_time_ms(e.time_unix_ms)},
               {"time_unix_ms", e.time_unix_ms},
               {"action", to_string(e.action)},
               {"action_code", static_cast<unsigned>(e.action)},
               {"outcome", std::string(to_string(e.outcome))},
               {"actor_id", e.actor_id},
               {"actor_role", e.actor_role},
               {"case_id", e.case_id},
               {"item_id", e.item_id},
               {"details", e.details},
               {"entry_base64", logfmt::base64(proof.entry)},
               {"inclusion_proof", {{"tree_size", proof.tree_size}, {"path", path}}}};
}

struct ExportRun {
  bool logged = false;  // the export_made ok entry is in the log
  std::string case_id;
};

Result<ExportSummary> export_locked(Vault::State& s, const std::string& item_id, const fs::path& out,
                                    ExportRun& run) {
  TILLID_TRY(s.require_unlocked());
  Id16 id;
  if (!parse_id(item_id, id))
    return make_error(Errc::invalid_argument, "\"" + item_id + "\" is not an item id (32 hex characters); "
                                              "list items with `tillid ls`");
  TILLID_ASSIGN(auto rows, load_item_rows(s.db, "WHERE id = ? AND state = 'sealed'", &item_id));
  if (rows.empty()) return make_error(Errc::not_found, "there is no item " + item_id + "; list items with `tillid ls`");
  ItemRow row = std::move(rows[0]);
  run.case_id = row.info.case_id;
  TILLID_TRY(open_item_fields(s, row));
  const std::string label = "item " + item_id;
  // Everything the bundle states about the item and its case comes from the signed v3
  // manifest (FORMAT.md §5.1), checked here first; its case's signature (§5.4) is checked by
  // manifest_for. The title, file name and interviewer are opened from the sealed fields whose
  // digests it signs.
  auto built = manifest_for(s, row);
  if (!built.ok())
    return make_error(Errc::corrupt, built.error().message + "; nothing was exported; run verify");
  const Manifest manifest = std::move(built).value();
  if (!verify_manifest(s.signing_pk, manifest, row.signature))
    return make_error(Errc::corrupt, label + ": its manifest signature does not verify (metadata altered); "
                                             "nothing was exported; run verify");
  CaseInfo c;
  c.id = to_hex(manifest.case_id);
  c.case_number = manifest.case_number;
  c.municipality = manifest.municipality;

  // The destination: absent, or an empty directory (EXPORT-FORMAT.md §1).
  const fs::path target = out.filename().empty() ? out.parent_path() : out;
  if (target.empty()) return make_error(Errc::invalid_argument, "no export directory given");
  std::error_code ec;
  const auto st = fs::symlink_status(target, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st) || !fs::is_empty(target, ec) || ec)
      return make_error(Errc::already_exists, target.string() + " already exists and is not an empty directory; "
                                                                 "nothing was written: choose a new directory");
  }
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  // Staging beside the target: same file system, so the final rename is atomic.
  std::string tmpl = (parent / ("." + target.filename().string() + ".tillid-export-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return errno_error(errno, "cannot create a directory in " + parent.string());
  const fs::path staging = tmpl;

  auto r = [&]() -> Result<ExportSummary> {
    // 1. The plaintext, decrypted chunk by chunk; only authenticated bytes are written.
    const std::string content_name = exportfmt::content_file_name(row.info);
    const fs::path content_path = staging / content_name;
    TILLID_ASSIGN(Fd out_fd, open_file(content_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC));
    {
      const std::string what = "cannot write " + content_path.string();
      ByteSink sink = [&](std::span<const unsigned char> bytes) { return write_all(out_fd.get(), bytes, what); };
      TILLID_TRY(read_item_content(s, row, sink));
    }
    TILLID_TRY(fsync_fd(out_fd.get(), "cannot flush " + content_path.string()));
    TILLID_TRY(out_fd.close_checked("cannot close " + content_path.string()));
    std::vector<BundleFile> files{{content_name, row.info.size, to_hex(row.info.sha256)}};

    // 2. The item manifest exactly as signed when stored (FORMAT.md §5), and the key, in forms
    //    `openssl pkeyutl -rawin` reads.
    const auto manifest_bytes = encode_manifest(manifest);
    TILLID_ASSIGN(BundleFile f_bin, write_new_file(staging, exportfmt::kManifestBin, manifest_bytes));
    TILLID_ASSIGN(BundleFile f_sig, write_new_file(staging, exportfmt::kManifestSig, row.signature));
    TILLID_ASSIGN(BundleFile f_pem, write_new_file(staging, exportfmt::kAppliancePem, exportfmt::ed25519_pem(s.signing_pk)));

    // 3. Log the export and sign a checkpoint first: the proofs below then cover the export's
    //    own entry (record_event signs after every write while the vault is unlocked).
    TILLID_TRY(s.record_event(LogAction::export_made, row.info.case_id, item_id, LogOutcome::ok, "court bundle v2"));
    run.logged = true;
    auto cp = s.log->latest_checkpoint();
    if (!cp || cp->size != s.log->size())
      return make_error(Errc::internal, "the access log has no checkpoint covering the export entry");
    LogQuery q;
    q.item_id = item_id;
    TILLID_ASSIGN(std::vector<LogEntry> entries, s.log->entries(q));
    ojson jentries = ojson::array();
    std::int64_t exported_ms = 0;
    for (const auto& e : entries) {
      if (e.seq >= cp->size) continue;  // cannot happen while we hold the vault's mutex
      // RFC 9162 §2.1.3.1: the audit path from leaf `seq` to the root of the checkpoint's tree.
      TILLID_ASSIGN(InclusionProof proof, s.log->inclusion_proof(e.seq, cp->size));
      jentries.push_back(entry_json(e, proof));
      if (e.action == LogAction::export_made && e.outcome == LogOutcome::ok) exported_ms = e.time_unix_ms;
    }
    const std::int64_t exported_unix = exported_ms / 1000;
    TILLID_ASSIGN(BundleFile f_cp, write_new_file(staging, exportfmt::kCheckpoint, cp->note));

    const std::string pk_hex = to_hex(s.signing_pk);
    const std::string verifier = log_verifier_key(cp->origin, s.signing_pk);
    TILLID_ASSIGN(BundleFile f_readme, write_new_file(staging, exportfmt::kReadme,
                                                      readme_text(row.info, c, content_name,
                                                                  exportfmt::iso_time(exported_unix), pk_hex)));
    files.push_back(f_bin);
    files.push_back(f_sig);
    files.push_back(f_pem);
    files.push_back(f_cp);
    files.push_back(f_readme);

    // 4. manifest.json (EXPORT-FORMAT.md §3), signed as a whole by the appliance key.
    // Every readable field is the signed manifest's value (or, for sealed fields, opened from
    // the ciphertext whose digest it signs, included so a verifier can recompute the digest).
    ojson item{{"id", to_hex(manifest.item_id)},
               {"kind", to_string(manifest.kind)},
               {"title", row.info.title},
               {"title_sealed_base64", logfmt::base64(row.title_sealed)},
               {"file_name", row.info.file_name},
               {"file_name_sealed_base64", logfmt::base64(row.file_name_sealed)},
               {"content_file", content_name},
               {"size", manifest.size},
               {"sha256", to_hex(manifest.sha256)},
               {"created", exportfmt::iso_time(manifest.created_unix)},
               {"created_unix", manifest.created_unix},
               {"creator", manifest.creator}};
    if (row.info.kind == ItemKind::recording) {
      // FORMAT.md §5.3 / §7: the signed manifest v2 binds duration, interruption and the
      // bookmarks digest; the digest covers each label's sealed bytes, which are included so
      // an offline verifier can recompute it (they reveal nothing without the vault's key).
      TILLID_ASSIGN(std::vector<Bookmark> marks, open_bookmarks(s, row));
      ojson jmarks = ojson::array();
      for (std::size_t i = 0; i < marks.size() && i < row.bookmarks.size(); ++i)
        jmarks.push_back({{"seq", marks[i].seq},
                          {"offset_ms", marks[i].offset_ms},
                          {"label", marks[i].label},
                          {"created_unix", marks[i].created_unix},
                          {"label_sealed_base64", logfmt::base64(row.bookmarks[i].label_sealed)}});
      if (manifest.has_interviewer) {
        item["interviewer"] = row.info.interviewer;
        item["interviewer_sealed_base64"] = logfmt::base64(row.interviewer_sealed);
      }
      item["duration_ms"] = manifest.duration_ms;
      item["interrupted"] = manifest.interrupted;
      item["interrupted_unix"] = manifest.interrupted_unix;
      item["bookmarks"] = jmarks;
    }
    ojson jfiles = ojson::array();
    for (const auto& f : files) jfiles.push_back({{"name", f.name}, {"size", f.size}, {"sha256", f.sha256_hex}});
    ojson doc{
        {"format", exportfmt::kFormatName},
        {"version", exportfmt::kFormatVersion},
        {"exported", exportfmt::iso_time(exported_unix)},
        {"exported_unix", exported_unix},
        {"exported_by", {{"actor_id", s.actor.id}, {"actor_role", s.actor.role}}},
        {"case", {{"id", c.id}, {"case_number", c.case_number}, {"municipality", c.municipality}}},
        {"item", item},
        {"appliance",
         {{"signature_algorithm", "Ed25519"},
          {"public_key_hex", pk_hex},
          {"public_key_base64", logfmt::base64(s.signing_pk)},
          {"public_key_file", exportfmt::kAppliancePem},
          {"verifier_key", verifier}}},
        {"item_manifest",
         {{"encoding", "tillid.manifest.v3"},
          {"manifest_base64", logfmt::base64(manifest_bytes)},
          {"manifest_file", exportfmt::kManifestBin},
          {"signature_base64", logfmt::base64(row.signature)},
          {"signature_file", exportfmt::kManifestSig}}},
        {"access_log",
         {{"origin", cp->origin},
          {"tree_size", cp->size},
          {"checkpoint", cp->note},
          {"checkpoint_file", exportfmt::kCheckpoint},
          {"entries", jentries}}},
        {"files", jfiles}};
    // A title or file name is not necessarily valid UTF-8 (it is whatever the user gave);
    // JSON must be, so invalid bytes become U+FFFD here (the content file name is sanitised).
    const std::string json_text = doc.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
    Signature json_sig{};
    crypto_sign_detached(json_sig.data(), nullptr, reinterpret_cast<const unsigned char*>(json_text.data()),
                         json_text.size(), s.keys->signing_sk.data());
    TILLID_ASSIGN(BundleFile f_json, write_new_file(staging, exportfmt::kManifestJson, json_text));
    TILLID_ASSIGN(BundleFile f_jsig, write_new_file(staging, exportfmt::kManifestJsonSig, json_sig));
    files.push_back(f_json);
    files.push_back(f_jsig);

    // 5. SHA256SUMS in the format `sha256sum -c` reads: "<hex>  <name>" (text mode marker ' ').
    std::string sums;
    for (const auto& f : files) sums += f.sha256_hex + "  " + f.name + "\n";
    TILLID_ASSIGN(BundleFile f_sums, write_new_file(staging, exportfmt::kSums, sums));
    (void)f_sums;

    // 6. Publish: the directory's entries are durable before the rename makes them visible;
    //    rename(2) replaces only an absent target or an empty directory, atomically.
    TILLID_TRY(fsync_dir(staging));
    if (::rename(staging.c_str(), target.c_str()) != 0) {
      const int err = errno;
      if (err == EEXIST || err == ENOTEMPTY || err == ENOTDIR)
        return make_error(Errc::already_exists, target.string() + " appeared while the export was written and is "
                                                                   "not an empty directory; nothing was written");
      return errno_error(err, "cannot rename the bundle into " + target.string());
    }
    auto synced = fsync_dir(parent);
    if (!synced.ok()) {
      // Not durable: undo, so that a failure leaves nothing behind.
      fs::remove_all(target, ec);
      return synced.error();
    }
    ExportSummary sum;
    sum.dir = target;
    sum.item = row.info;
    sum.content_file = content_name;
    sum.log_entries = jentries.size();
    sum.checkpoint_size = cp->size;
    sum.exported_unix = exported_unix;
    sum.public_key_hex = pk_hex;
    sum.verifier_key = verifier;
    return sum;
  }();
  if (!r.ok()) fs::remove_all(staging, ec);
  return r;
}

}  // namespace

Result<ExportSummary> Vault::export_item(const std::string& item_id, const fs::path& out) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  ExportRun run;
  auto r = export_locked(s, item_id, out, run);
  // A refused or failed export is logged too; if the ok entry was already written, this
  // second entry records that no bundle came of it (the log is append-only).
  if (!r.ok()) TILLID_TRY(s.record_failure(LogAction::export_made, run.case_id, loggable_id(item_id), r.error()));
  return r;
}

}  // namespace tillid
