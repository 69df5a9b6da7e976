// A vault made through the real `tillid` command in a temporary directory.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace tillid::test {

struct CliVault {
  TempDir tmp;
  fs::path vault = tmp / "vault";
  fs::path pass = tmp / "pass.txt";

  CliVault() {
    write_file(pass, "correct horse battery staple\n");
    auto r = tillid({"init", "--kdf", "minimum"});
    REQUIRE(r.exit_code == 0);
  }

  // The full command line for `tillid ARGS` on this vault.
  std::vector<std::string> argv(std::vector<std::string> args) const {
    std::vector<std::string> a{tillid_program().string(), "--vault", vault.string(), "--passphrase-file",
                               pass.string()};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }

  RunResult tillid(std::vector<std::string> args) const { return run(argv(std::move(args))); }

  // Identifying values never go on argv (issue 10, class 8): this writes them as the JSON
  // document `--fields FILE` reads and returns the file's path.
  std::string fields(const nlohmann::json& values) const {
    static int counter = 0;
    const fs::path p = tmp / ("fields-" + std::to_string(counter++) + ".json");
    write_file(p, values.dump());
    return p.string();
  }

  nlohmann::json json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    auto r = tillid(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  }
};

}  // namespace tillid::test
