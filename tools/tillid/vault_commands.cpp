// `tillid init | unlock | lock | status | key | case | doc | ls | get | verify`: the vault's
// everyday commands. `init` creates a vault offline (the invoking user becomes its first
// admin); every other one is a request to the daemon (firmware/CONTROL-PROTOCOL.md).
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

#include "cli.hpp"
#include "daemon_link.hpp"
#include "identifying_input.hpp"
#include "local_files.hpp"
#include "output.hpp"
#include "passphrase.hpp"

namespace tillid::cli {
namespace {

// Listings show what fails its signature check, marked, rather than hide it; the command then
// exits 1 so a script notices (the facts are not the appliance's word; `verify` says why).
std::string unverified_mark(bool verified) { return verified ? "" : " (UNVERIFIED)"; }

template <class Info>
int listing_result(const std::vector<Info>& listed) {
  const auto bad = std::count_if(listed.begin(), listed.end(), [](const Info& i) { return !i.verified; });
  if (bad == 0) return kOk;
  std::cerr << "tillid: " << bad << " listed entr" << (bad == 1 ? "y fails its" : "ies fail their")
            << " signature check (marked UNVERIFIED: the stored facts were altered); run `tillid verify`\n";
  return kVerifyFailed;
}

Result<std::string> check_kdf(const std::string& name) {
  if (name == "moderate" || name == "interactive" || name == "minimum") return name;
  return make_error(Errc::invalid_argument, "unknown --kdf '" + name + "': use moderate, interactive or minimum");
}

Result<KdfCost> parse_kdf(const std::string& name) {
  TILLID_TRY(check_kdf(name));
  if (name == "moderate") return KdfCost::moderate();
  if (name == "interactive") return KdfCost::interactive();
  return KdfCost::minimum();
}

// The invoking user, who becomes the first admin: their login name if it is a valid user
// name (users.hpp), else "uid<N>".
NewUser invoking_admin() {
  NewUser admin;
  admin.role = Role::admin;
  admin.uid = static_cast<unsigned>(::getuid());
  admin.name = "uid" + std::to_string(*admin.uid);
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) {
    const std::string name = pw->pw_name;
    const bool valid = !name.empty() && name.size() <= 32 &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                       });
    if (valid) admin.name = name;
  }
  return admin;
}

void register_init(CLI::App& app, GlobalOptions& g, Action& action) {
  struct Args { std::string label = "first officer"; std::string kdf = "moderate"; };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("init", "Create a new, empty vault protected by one passphrase (offline; you "
                                         "become its first admin)");
  cmd->add_option("--label", args->label, "Name of the first key slot (e.g. the officer holding it)")->capture_default_str();
  cmd->add_option("--kdf", args->kdf, "Argon2id cost: moderate (appliance), interactive, or minimum (tests only)")->capture_default_str();
  cmd->callback([&g, &action, args] {
    action = [&g, args]() -> int {
      if (auto ok = require_vault_dir(g); !ok) return fail(ok.error());
      auto cost = parse_kdf(args->kdf);
      if (!cost) return fail(cost.error());
      auto pass = obtain_new_passphrase(g.passphrase_file, "New vault passphrase");
      if (!pass) return fail(pass.error());
      const NewUser admin = invoking_admin();
      if (auto ok = Vault::create(g.vault, *pass, args->label, *cost, admin); !ok) return fail(ok.error());
      if (g.json) print_json({{"vault", g.vault.string()}, {"created", true}, {"admin", admin.name}});
      else std::cout << "Created vault " << printable(g.vault.string()) << " with key slot '" << printable(args->label)
                     << "'; admin: " << printable(admin.name) << ".\n";
      return kOk;
    };
  });
}

void register_unlock_lock_status(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* unlock = app.add_subcommand("unlock", "Unlock the daemon's vault (passphrase from --passphrase-file or a "
                                              "no-echo prompt; never on the command line)");
  unlock->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_TRY(send_unlock(link, g));
        if (g.json) print_json({{"unlocked", true}});
        else std::cout << "Unlocked.\n";
        return kOk;
      });
    };
  });
  auto* lock = app.add_subcommand("lock", "Lock the daemon's vault: every key is wiped from its memory");
  lock->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_TRY(link.call_once("lock", nlohmann::json::object()));
        if (g.json) print_json({{"locked", true}});
        else std::cout << "Locked.\n";
        return kOk;
      });
    };
  });
  auto* status = app.add_subcommand("status", "Whether the vault is locked, who you are to the daemon, and the "
                                              "running recording");
  status->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_ASSIGN(nlohmann::json j, link.call_once("status", nlohmann::json::object()));
        if (g.json) {
          print_json(j);
          return kOk;
        }
        if (!j.is_object()) return make_error(Errc::corrupt, "malformed reply from the daemon");
        const auto user = j.value("user", nlohmann::json::object());
        std::cout << "Vault " << printable(j.value("vault_id", std::string())) << ": "
                  << (j.value("locked", true) ? "LOCKED" : "unlocked") << "\n"
                  << "Daemon " << printable(j.value("version", std::string())) << "\n"
                  << "You are " << printable(user.is_object() ? user.value("name", std::string()) : std::string())
                  << " (" << printable(user.is_object() ? user.value("role", std::string()) : std::string()) << ")\n";
        const auto rec = j.value("recording", nlohmann::json());
        if (rec.is_object())
          std::cout << "Recording item " << printable(rec.value("item_id", std::string())) << " ("
                    << printable(rec.value("state", std::string())) << ")\n";
        else
          std::cout << "No recording running\n";
        return kOk;
      });
    };
  });
}

void register_key(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* key = app.add_subcommand("key", "Manage the passphrases (key slots) that unlock the vault (admin)");
  key->require_subcommand(1);

  struct AddArgs { std::optional<std::filesystem::path> new_file; std::string label; std::string kdf = "moderate"; };
  auto add = std::make_shared<AddArgs>();
  auto* add_cmd = key->add_subcommand("add", "Add a key slot for another passphrase");
  add_cmd->add_option("--new-passphrase-file", add->new_file, "Read the new passphrase from FILE instead of prompting");
  add_cmd->add_option("--label", add->label, "Name of the new slot (e.g. the officer holding it)")->required();
  add_cmd->add_option("--kdf", add->kdf, "Argon2id cost: moderate, interactive or minimum (tests only)")->capture_default_str();
  add_cmd->callback([&g, &action, add] {
    action = [&g, add] {
      auto kdf = check_kdf(add->kdf);
      if (!kdf) return fail(kdf.error());
      auto pass = obtain_new_passphrase(add->new_file, "New passphrase for slot '" + add->label + "'");
      if (!pass) return fail(pass.error());
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        nlohmann::json args = {{"passphrase", std::string(reinterpret_cast<const char*>(pass->data()), pass->size())},
                               {"label", add->label},
                               {"kdf", add->kdf}};
        auto r = link.call("key.add", args);
        wipe_json(args);
        if (!r) return r.error();
        const int slot = r->value("slot", -1);
        if (g.json) print_json({{"slot", slot}, {"label", add->label}});
        else std::cout << "Added key slot " << slot << " ('" << printable(add->label) << "').\n";
        return kOk;
      });
    };
  });

  auto slot_id = std::make_shared<int>(0);
  auto* rm_cmd = key->add_subcommand("remove", "Remove a key slot (the last one cannot be removed)");
  rm_cmd->alias("rm");
  rm_cmd->add_option("SLOT", *slot_id, "Slot number, as `tillid key ls` shows it")->required();
  rm_cmd->callback([&g, &action, slot_id] {
    action = [&g, slot_id] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_TRY(link.call("key.remove", {{"slot", *slot_id}}));
        if (g.json) print_json({{"removed", *slot_id}});
        else std::cout << "Removed key slot " << *slot_id << ".\n";
        return kOk;
      });
    };
  });

  auto* ls_cmd = key->add_subcommand("ls", "List key slots");
  ls_cmd->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_ASSIGN(nlohmann::json j, link.call("key.ls"));
        TILLID_ASSIGN(auto slots, decode_list<KeySlotInfo>(j));
        if (g.json) {
          print_json(j);
        } else {
          std::vector<std::vector<std::string>> rows;
          for (const auto& s : slots) rows.push_back({std::to_string(s.id), s.label, format_time(s.created_unix)});
          print_table({"SLOT", "LABEL", "CREATED"}, rows);
        }
        return kOk;
      });
    };
  });
}

void register_case(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* cs = app.add_subcommand("case", "Open and list cases");
  cs->require_subcommand(1);

  struct AddArgs { NewCase nc; FieldsOption fields; };
  auto args = std::make_shared<AddArgs>();
  static const std::vector<FieldSpec> kCaseFields = {{"child_name", "Child's name", false},
                                                     {"cpr", "Child's CPR number", false},
                                                     {"notes", "Notes", false}};
  auto* add = cs->add_subcommand("add", "Open a case (child's name, CPR and notes are stored encrypted and are "
                                        "never taken on the command line)");
  add->add_option("--number", args->nc.case_number, "The centre's case number (stored in the clear)")->required();
  add->add_option("--municipality", args->nc.municipality, "Municipality code, e.g. 0101 (stored in the clear)")->required();
  add_fields_option(add, args->fields, kCaseFields, {"--child-name", "--cpr", "--notes"});
  add->callback([&g, &action, args] {
    action = [&g, args] {
      auto fields = read_fields(args->fields, kCaseFields);
      if (!fields) return fail(fields.error());
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        nlohmann::json req = {{"number", args->nc.case_number},     {"municipality", args->nc.municipality},
                              {"child_name", (*fields)["child_name"]}, {"cpr", (*fields)["cpr"]},
                              {"notes", (*fields)["notes"]}};
        auto r = link.call("case.add", req);
        wipe_json(req);
        if (!r) return r.error();
        nlohmann::json reply = std::move(r).value();
        TILLID_ASSIGN(CaseInfo c, decode<CaseInfo>(reply));
        WipeOnExit wipe_reply{&c.child_name, &c.cpr, &c.notes};
        if (g.json) print_json(std::move(reply));
        else {
          std::cout << "Opened case " << printable(c.case_number) << " (id " << c.id << ").\n";
          wipe_json(reply);
        }
        return kOk;
      });
    };
  });

  auto* ls = cs->add_subcommand("ls", "List cases");
  ls->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_ASSIGN(nlohmann::json j, link.call("case.ls"));
        TILLID_ASSIGN(auto cases, decode_list<CaseInfo>(j));
        WipeAllOnExit wipe_cases(cases);
        if (g.json) {
          print_json(std::move(j));
        } else {
          wipe_json(j);
          std::vector<std::vector<std::string>> rows;
          for (const auto& c : cases)
            rows.push_back({c.case_number + unverified_mark(c.verified), c.municipality, c.child_name,
                            format_time(c.created_unix), c.id});
          print_table({"CASE", "MUNICIPALITY", "CHILD", "OPENED", "ID"}, rows);
        }
        return listing_result(cases);
      });
    };
  });
}

void register_doc(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* doc = app.add_subcommand("doc", "Store documents in a case");
  doc->require_subcommand(1);
  struct Args { std::string case_ref; std::filesystem::path file; FieldsOption fields; };
  auto args = std::make_shared<Args>();
  static const std::vector<FieldSpec> kDocFields = {{"title", "Title (default: the file name)", false}};
  auto* add = doc->add_subcommand("add", "Encrypt a file into the vault as a document of a case (its title is "
                                         "encrypted and never taken on the command line)");
  add->add_option("--case", args->case_ref, "Case number or case id")->required();
  add->add_option("FILE", args->file, "File to store (read by this command and streamed to the daemon)")->required();
  add_fields_option(add, args->fields, kDocFields, {"--title"});
  add->callback([&g, &action, args] {
    action = [&g, args] {
      auto fields = read_fields(args->fields, kDocFields);
      if (!fields) return fail(fields.error());
      // The file first: a missing or unreadable file fails before the daemon hears of it.
      auto file = InputFile::open(args->file);
      if (!file) return fail(file.error());
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        const std::string file_name = args->file.filename().string();
        nlohmann::json req = {{"case", args->case_ref},
                              {"title", (*fields)["title"].empty() ? file_name : (*fields)["title"]},
                              {"file_name", file_name}};
        bool first = true;
        InputFactory input = [&]() -> Result<ByteSource> {
          if (!first) TILLID_TRY(file->rewind());
          first = false;
          return file->source();
        };
        auto r = link.call("doc.add", req, &input);
        wipe_json(req);
        if (!r) return r.error();
        nlohmann::json reply = std::move(r).value();
        TILLID_ASSIGN(ItemInfo item, decode<ItemInfo>(reply));
        WipeOnExit wipe_reply{&item.title, &item.file_name};
        if (g.json) print_json(std::move(reply));
        else {
          wipe_json(reply);
          std::cout << "Stored " << printable(item.file_name) << " (" << format_size(item.size) << ") as item " << item.id
                    << "\nSHA-256 " << to_hex(item.sha256) << "\n";
        }
        return kOk;
      });
    };
  });
}

void register_ls(CLI::App& app, GlobalOptions& g, Action& action) {
  auto case_ref = std::make_shared<std::string>();
  auto* ls = app.add_subcommand("ls", "List stored items (documents and recordings)");
  ls->add_option("--case", *case_ref, "Only items of this case (number or id)");
  ls->callback([&g, &action, case_ref] {
    action = [&g, case_ref] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        nlohmann::json args = nlohmann::json::object();
        if (!case_ref->empty()) args["case"] = *case_ref;
        // Each row carries its case's number (marked if the case fails its check).
        TILLID_ASSIGN(nlohmann::json j, link.call("ls", args));
        TILLID_ASSIGN(auto items, decode_list<ItemInfo>(j));
        WipeAllOnExit wipe_items(items);
        std::map<std::string, std::string> numbers;  // case id → case number
        for (const auto& row : j)
          if (row.is_object() && row.contains("case_number") && row["case_number"].is_string())
            numbers[row.value("case_id", std::string())] = row["case_number"].get<std::string>();
        if (g.json) {
          print_json(std::move(j));
        } else {
          wipe_json(j);
          std::vector<std::vector<std::string>> rows;
          for (const auto& it : items)
            rows.push_back({it.id + unverified_mark(it.verified), numbers[it.case_id], to_string(it.kind),
                            format_size(it.size), format_time(it.created_unix), it.title});
          print_table({"ITEM", "CASE", "KIND", "SIZE", "STORED", "TITLE"}, rows);
        }
        return listing_result(items);
      });
    };
  });
}

void register_get(CLI::App& app, GlobalOptions& g, Action& action) {
  struct Args { std::string item; std::filesystem::path out; };
  auto args = std::make_shared<Args>();
  auto* get = app.add_subcommand("get", "Decrypt and verify an item into a new file");
  get->add_option("ITEM", args->item, "Item id, as `tillid ls` shows it")->required();
  get->add_option("-o,--output", args->out, "Output file (must not exist)")->required();
  get->callback([&g, &action, args] {
    action = [&g, args] {
      if (auto absent = require_absent(args->out); !absent) return fail(absent.error());
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        // The bytes go to a private file beside OUT, which gets its name only after the
        // daemon's final reply says the whole item authenticated (FORMAT.md §5).
        std::optional<PartialFile> partial;
        Incoming in;
        in.on_data = [&](std::span<const unsigned char> bytes) -> Result<void> {
          if (!partial) {
            TILLID_ASSIGN(PartialFile f, PartialFile::create(args->out));
            partial.emplace(std::move(f));
          }
          return partial->write(bytes);
        };
        auto r = link.call("get", {{"item", args->item}}, nullptr, &in);
        if (!r) return r.error();
        nlohmann::json reply = std::move(r).value();
        TILLID_ASSIGN(ItemInfo item, decode<ItemInfo>(reply));
        WipeOnExit wipe_item{&item.title, &item.file_name, &item.interviewer};
        if (!partial) {  // an empty item: no data frames at all
          TILLID_ASSIGN(PartialFile f, PartialFile::create(args->out));
          partial.emplace(std::move(f));
        }
        if (partial->written() != item.size)
          return make_error(Errc::corrupt, "the daemon sent " + std::to_string(partial->written()) + " bytes for an item of " +
                                               std::to_string(item.size) + "; nothing was written");
        TILLID_TRY(partial->commit());
        if (g.json) print_json(std::move(reply));
        else {
          wipe_json(reply);
          std::cout << "Wrote " << printable(args->out.string()) << " (" << format_size(item.size)
                    << "), authenticated; SHA-256 " << to_hex(item.sha256) << "\n";
        }
        return kOk;
      });
    };
  });
}

void register_verify(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* verify = app.add_subcommand("verify", "Check every item: decrypt, authenticate, SHA-256, signatures, objects");
  verify->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_ASSIGN(nlohmann::json j, link.call("verify"));
        TILLID_ASSIGN(VerifyReport report, decode<VerifyReport>(j));
        if (g.json) {
          print_json(std::move(j));
        } else {
          for (const auto& p : report.problems)
            std::cout << "BAD " << (p.item_id.empty() ? std::string("(vault)") : "item " + printable(p.item_id)) << ": "
                      << printable(p.what) << "\n";
          std::cout << (report.clean() ? "OK: " : "FAILED: ") << report.items_checked << " items, "
                    << format_size(report.bytes_checked) << " checked, " << report.problems.size() << " problem(s).\n";
        }
        return report.clean() ? kOk : kVerifyFailed;
      });
    };
  });
}

}  // namespace

void register_vault_commands(CLI::App& app, GlobalOptions& g, Action& action) {
  register_init(app, g, action);
  register_unlock_lock_status(app, g, action);
  register_key(app, g, action);
  register_case(app, g, action);
  register_doc(app, g, action);
  register_ls(app, g, action);
  register_get(app, g, action);
  register_verify(app, g, action);
}

}  // namespace tillid::cli
