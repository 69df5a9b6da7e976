// `tillid user add | ls | revoke`: the appliance's users and their roles (admin only;
// firmware/AUTHZ.md). The daemon knows a local user by the uid the kernel reports for the
// connection, so enrolling one means naming their uid.
#include <pwd.h>

#include <iostream>
#include <memory>

#include "cli.hpp"
#include "daemon_link.hpp"
#include "output.hpp"

namespace tillid::cli {
namespace {

// --uid, else the uid of the local account of the same name, if there is one.
std::optional<unsigned> uid_for(const std::string& name, std::optional<unsigned> given) {
  if (given) return given;
  if (const passwd* pw = ::getpwnam(name.c_str())) return static_cast<unsigned>(pw->pw_uid);
  return std::nullopt;
}

void print_users(const std::vector<User>& users) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : users)
    rows.push_back({u.name, std::string(to_string(u.role)), u.uid ? std::to_string(*u.uid) : "-",
                    u.municipality.empty() ? "-" : u.municipality, format_time(u.created_unix),
                    u.revoked ? "revoked" : "active"});
  print_table({"USER", "ROLE", "UID", "MUNICIPALITY", "CREATED", "STATE"}, rows);
}

}  // namespace

void register_user_commands(CLI::App& app, GlobalOptions& g, Action& action) {
  auto* user = app.add_subcommand("user", "Enrol, list and revoke the appliance's users (admin)");
  user->require_subcommand(1);

  struct AddArgs { std::string name, role, municipality; std::optional<unsigned> uid; };
  auto a = std::make_shared<AddArgs>();
  auto* add = user->add_subcommand("add", "Enrol a user with one role: admin, staff, caseworker or auditor");
  add->add_option("NAME", a->name, "User name, [a-z0-9._-]{1,32}: the access log's actor id")->required();
  add->add_option("--role", a->role, "admin, staff, caseworker or auditor")->required();
  add->add_option("--uid", a->uid, "The local uid the user runs tillid as (default: the uid of the local account NAME)");
  add->add_option("--municipality", a->municipality, "Caseworkers: the municipality code they serve");
  add->callback([&g, &action, a] {
    action = [&g, a] {
      if (!parse_role(a->role))
        return fail(make_error(Errc::invalid_argument, "unknown --role '" + a->role + "': use admin, staff, caseworker or auditor"));
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        nlohmann::json args = {{"name", a->name}, {"role", a->role}};
        if (auto uid = uid_for(a->name, a->uid)) args["uid"] = *uid;
        if (!a->municipality.empty()) args["municipality"] = a->municipality;
        TILLID_ASSIGN(nlohmann::json j, link.call("user.add", args));
        TILLID_ASSIGN(User u, decode<User>(j));
        if (g.json) print_json(std::move(j));
        else std::cout << "Enrolled " << printable(u.name) << " as " << to_string(u.role)
                       << (u.uid ? " (uid " + std::to_string(*u.uid) + ")" : std::string(" (no local uid)")) << ".\n";
        return kOk;
      });
    };
  });

  auto* ls = user->add_subcommand("ls", "List users, revoked ones included");
  ls->callback([&g, &action] {
    action = [&g] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_ASSIGN(nlohmann::json j, link.call("user.ls"));
        TILLID_ASSIGN(auto users, decode_list<User>(j));
        if (g.json) print_json(std::move(j));
        else print_users(users);
        return kOk;
      });
    };
  });

  auto name = std::make_shared<std::string>();
  auto* revoke = user->add_subcommand("revoke", "Revoke a user: the daemon refuses them from now on (never the last admin)");
  revoke->add_option("NAME", *name, "User name")->required();
  revoke->callback([&g, &action, name] {
    action = [&g, name] {
      return with_daemon(g, [&](DaemonLink& link) -> Result<int> {
        TILLID_TRY(link.call("user.revoke", {{"name", *name}}));
        if (g.json) print_json({{"revoked", *name}});
        else std::cout << "Revoked " << printable(*name) << ".\n";
        return kOk;
      });
    };
  });
}

}  // namespace tillid::cli
