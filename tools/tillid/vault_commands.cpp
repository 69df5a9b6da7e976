// `tillid init | key | case | doc | ls | get | verify`: the vault's everyday commands.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

#include "cli.hpp"
#include "identifying_input.hpp"
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

Result<void> require_vault_dir(const GlobalOptions& g) {
  if (g.vault.empty())
    return make_error(Errc::invalid_argument, "no vault given: pass --vault DIR or set TILLID_VAULT");
  return {};
}

Result<KdfCost> parse_kdf(const std::string& name) {
  if (name == "moderate") return KdfCost::moderate();
  if (name == "interactive") return KdfCost::interactive();
  if (name == "minimum") return KdfCost::minimum();
  return make_error(Errc::invalid_argument, "unknown --kdf '" + name + "': use moderate, interactive or minimum");
}

// Runs `body` with an unlocked vault, turning any Error into its exit code.
int with_vault(const GlobalOptions& g, const std::function<Result<int>(Vault&)>& body) {
  if (auto ok = require_vault_dir(g); !ok) return fail(ok.error());
  auto vault = open_unlocked(g);
  if (!vault) return fail(vault.error());
  auto rc = body(*vault);
  if (!rc) return fail(rc.error());
  return *rc;
}

void register_init(CLI::App& app, GlobalOptions& g, Action& action) {
  struct Args { std::string label = "first officer"; std::string kdf = "moderate"; };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("init", "Create a new, empty vault protected by one passphrase");
  cmd->add_option("--label", args->label, "Name of the first key slot (e.g. the officer holding it)")->capture_default_str();
  cmd->add_option("--kdf", args->kdf, "Argon2id cost: moderate (appliance), interactive, or minimum (tests only)")->capture_default_str();
  cmd->callback([&g, &action, args] {
    action = [&g, args]() -> int {
      if (auto ok = require_vault_dir(g); !ok) return fail(ok.error());
      auto cost = parse_kdf(args->kdf);
      if (!cost) return fail(cost.error());
      auto pass = obtain_new_passphrase(g.passphrase_file, "New vault passphrase");
      if (!pass) return fail(pass.error());
      if (auto ok = Vault::create(g.vault, *pass, args->label, *cost, g.actor); !ok) return fail(ok.error());
      if (g.json) print_json({{"vault", g.vault.string()}, {"created", true}});
      else std::cout << "Created vault " << printable(g.vault.string()) << " with key slot '" << printable(args->label) << "'.\n";
      return kOk;
    };
  });
}

void register_key(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* key = app.add_subcommand("key", "Manage the passphrases (key slots) that unlock the vault");
  key->require_subcommand(1);

  struct AddArgs { std::optional<std::filesystem::path> new_file; std::string label; std::string kdf = "moderate"; };
  auto add = std::make_shared<AddArgs>();
  auto* add_cmd = key->add_subcommand("add", "Add a key slot for another passphrase (unlock with an existing one)");
  add_cmd->add_option("--new-passphrase-file", add->new_file, "Read the new passphrase from FILE instead of prompting");
  add_cmd->add_option("--label", add->label, "Name of the new slot (e.g. the officer holding it)")->required();
  add_cmd->add_option("--kdf", add->kdf, "Argon2id cost: moderate, interactive or minimum (tests only)")->capture_default_str();
  add_cmd->callback([&g, &action, add] {
    action = [&g, add] {
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_ASSIGN(KdfCost cost, parse_kdf(add->kdf));
        TILLID_ASSIGN(Passphrase pass, obtain_new_passphrase(add->new_file, "New passphrase for slot '" + add->label + "'"));
        TILLID_ASSIGN(int slot, v.add_key_slot(pass, add->label, cost));
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
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_TRY(v.remove_key_slot(*slot_id));
        if (g.json) print_json({{"removed", *slot_id}});
        else std::cout << "Removed key slot " << *slot_id << ".\n";
        return kOk;
      });
    };
  });

  auto* ls_cmd = key->add_subcommand("ls", "List key slots");
  ls_cmd->callback([&g, &action] {
    action = [&g] {
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_ASSIGN(auto slots, v.key_slots());
        if (g.json) {
          nlohmann::json j = nlohmann::json::array();
          for (const auto& s : slots) j.push_back({{"slot", s.id}, {"label", s.label}, {"created", format_time(s.created_unix)}});
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
      if (auto ok = require_vault_dir(g); !ok) return fail(ok.error());
      auto fields = read_fields(args->fields, kCaseFields);
      if (!fields) return fail(fields.error());
      NewCase nc = args->nc;
      WipeOnExit wipe_copies{&nc.child_name, &nc.cpr, &nc.notes};
      nc.child_name = (*fields)["child_name"];
      nc.cpr = (*fields)["cpr"];
      nc.notes = (*fields)["notes"];
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_ASSIGN(CaseInfo c, v.add_case(nc));
        WipeOnExit wipe_reply{&c.child_name, &c.cpr, &c.notes};  // what add_case returns, opened
        if (g.json) print_json(to_json(c));
        else std::cout << "Opened case " << printable(c.case_number) << " (id " << c.id << ").\n";
        return kOk;
      });
    };
  });

  auto* ls = cs->add_subcommand("ls", "List cases");
  ls->callback([&g, &action] {
    action = [&g] {
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_ASSIGN(auto cases, v.cases());
        WipeAllOnExit wipe_cases(cases);
        if (g.json) {
          nlohmann::json j = nlohmann::json::array();
          for (const auto& c : cases) j.push_back(to_json(c));
          print_json(j);
        } else {
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
  add->add_option("FILE", args->file, "File to store")->required();
  add_fields_option(add, args->fields, kDocFields, {"--title"});
  add->callback([&g, &action, args] {
    action = [&g, args] {
      if (auto ok = require_vault_dir(g); !ok) return fail(ok.error());
      auto fields = read_fields(args->fields, kDocFields);
      if (!fields) return fail(fields.error());
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_ASSIGN(CaseInfo c, v.find_case(args->case_ref));
        WipeOnExit wipe_case{&c.child_name, &c.cpr, &c.notes};
        std::string title = (*fields)["title"].empty() ? args->file.filename().string() : (*fields)["title"];
        WipeOnExit wipe_title{&title};
        TILLID_ASSIGN(ItemInfo item, v.add_document_file(c.id, args->file, title));
        WipeOnExit wipe_reply{&item.title};
        if (g.json) print_json(to_json(item));
        else std::cout << "Stored " << printable(item.file_name) << " (" << format_size(item.size) << ") as item " << item.id
                       << "\nSHA-256 " << to_hex(item.sha256) << "\n";
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
      return with_vault(g, [&](Vault& v) -> Result<int> {
        std::optional<std::string> filter;
        std::map<std::string, std::string> numbers;  // case id → case number
        TILLID_ASSIGN(auto cases, v.cases());
        WipeAllOnExit wipe_cases(cases);
        for (const auto& c : cases) numbers[c.id] = c.case_number + unverified_mark(c.verified);
        if (!case_ref->empty()) {
          TILLID_ASSIGN(CaseInfo c, v.find_case(*case_ref));
          WipeOnExit wipe_case{&c.child_name, &c.cpr, &c.notes};
          filter = c.id;
        }
        TILLID_ASSIGN(auto items, v.items(filter));
        WipeAllOnExit wipe_items(items);
        if (g.json) {
          nlohmann::json j = nlohmann::json::array();
          for (const auto& it : items) {
            auto row = to_json(it);
            row["case_number"] = numbers[it.case_id];
            j.push_back(row);
          }
          print_json(j);
        } else {
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
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_ASSIGN(ItemInfo item, v.fetch_to_file(args->item, args->out));
        WipeOnExit wipe_item{&item.title, &item.file_name, &item.interviewer};
        if (g.json) print_json(to_json(item));
        else std::cout << "Wrote " << printable(args->out.string()) << " (" << format_size(item.size)
                       << "), authenticated; SHA-256 " << to_hex(item.sha256) << "\n";
        return kOk;
      });
    };
  });
}

void register_verify(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* verify = app.add_subcommand("verify", "Check every item: decrypt, authenticate, SHA-256, signatures, objects");
  verify->callback([&g, &action] {
    action = [&g] {
      return with_vault(g, [&](Vault& v) -> Result<int> {
        TILLID_ASSIGN(VerifyReport report, v.verify());
        if (g.json) {
          nlohmann::json problems = nlohmann::json::array();
          for (const auto& p : report.problems) problems.push_back({{"item", p.item_id}, {"problem", p.what}});
          print_json({{"clean", report.clean()}, {"items_checked", report.items_checked},
                      {"bytes_checked", report.bytes_checked}, {"problems", problems}});
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
  register_key(app, g, action);
  register_case(app, g, action);
  register_doc(app, g, action);
  register_ls(app, g, action);
  register_get(app, g, action);
  register_verify(app, g, action);
}

}  // namespace tillid::cli
