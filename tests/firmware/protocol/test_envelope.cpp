// Envelope (CONTROL-PROTOCOL.md §3–§6): hello, requests, replies, error codes both ways, file
// headers, the op table, and the spec's op table against the code's.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tillid/control.hpp"

using namespace tillid;
using namespace tillid::control;
using json = nlohmann::json;

namespace {

const Errc kAll[] = {Errc::invalid_argument, Errc::not_found, Errc::already_exists, Errc::not_a_vault,
                     Errc::locked, Errc::wrong_passphrase, Errc::last_key_slot, Errc::io, Errc::no_space,
                     Errc::corrupt, Errc::unsupported, Errc::denied, Errc::internal};

}  // namespace

TEST_CASE("envelope: hello names the protocol, its version and the daemon", "[protocol][envelope]") {
  const json h = make_hello("0.1.0");
  CHECK(h.dump() == R"({"daemon":"0.1.0","protocol":"tillid-control","version":1})");
  auto p = parse_hello(h);
  REQUIRE(p.ok());
  CHECK(p->version == 1);
  CHECK(p->daemon == "0.1.0");

  json other = h;
  other["version"] = 2;
  auto r = parse_hello(other);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::unsupported);
  CHECK(r.error().message.find("version 2") != std::string::npos);

  other = h;
  other["protocol"] = "TILLID-RECORD";
  CHECK(parse_hello(other).error().code == Errc::unsupported);
  other = h;
  other.erase("daemon");
  CHECK(parse_hello(other).error().code == Errc::corrupt);
  other = h;
  other["version"] = "1";
  CHECK(parse_hello(other).error().code == Errc::corrupt);
  CHECK(parse_hello(json::array()).error().code == Errc::corrupt);
}

TEST_CASE("envelope: requests round-trip and malformed ones are refused", "[protocol][envelope]") {
  const json req = make_request("case.add", {{"number", "2026-17"}});
  CHECK(req.dump() == R"({"args":{"number":"2026-17"},"op":"case.add","v":1})");
  auto r = parse_request(req);
  REQUIRE(r.ok());
  CHECK(r->op == "case.add");
  CHECK(r->args == json{{"number", "2026-17"}});

  // No args, or null args from make_request: an empty object.
  auto bare = parse_request(json{{"v", 1}, {"op", "status"}});
  REQUIRE(bare.ok());
  CHECK(bare->args == json::object());
  CHECK(make_request("status", json())["args"] == json::object());

  auto refused = [](const json& j) {
    auto p = parse_request(j);
    REQUIRE_FALSE(p.ok());
    return p.error().code;
  };
  CHECK(refused(json{{"v", 2}, {"op", "status"}}) == Errc::unsupported);
  CHECK(refused(json{{"v", "1"}, {"op", "status"}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1.0}, {"op", "status"}}) == Errc::invalid_argument);
  CHECK(refused(json{{"op", "status"}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", ""}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", "Status"}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", "case add"}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", std::string(33, 'a')}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", 7}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", "status"}, {"args", json::array()}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", "status"}, {"args", nullptr}}) == Errc::invalid_argument);
  CHECK(refused(json{{"v", 1}, {"op", "status"}, {"actor", "admin"}}) == Errc::invalid_argument);
  CHECK(refused(json::array()) == Errc::invalid_argument);
  // An op name of 32 characters is syntactically fine (unknown ops are the daemon's to refuse).
  CHECK(parse_request(json{{"v", 1}, {"op", std::string(32, 'z')}}).ok());
}

TEST_CASE("envelope: every error code survives a reply both ways", "[protocol][envelope]") {
  for (Errc e : kAll) {
    CAPTURE(to_string(e));
    const json reply = reply_error(Error{e, "what failed"});
    CHECK(reply["ok"] == false);
    CHECK(reply["error"]["code"] == to_string(e));
    auto back = parse_reply(reply);
    REQUIRE_FALSE(back.ok());
    CHECK(back.error().code == e);
    CHECK(back.error().message == "what failed");
    REQUIRE(parse_errc(to_string(e)));
    CHECK(*parse_errc(to_string(e)) == e);
  }
  CHECK_FALSE(parse_errc("bogus"));
  CHECK_FALSE(parse_errc(""));
  CHECK_FALSE(parse_errc("DENIED"));
  // A code this build does not know (a newer daemon) is still an error, never a success.
  auto newer = parse_reply(json{{"ok", false}, {"error", {{"code", "rate_limited"}, {"message", "m"}}}});
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().code == Errc::internal);
  CHECK(newer.error().message == "m");
}

TEST_CASE("envelope: ok replies carry their result; malformed replies are corrupt", "[protocol][envelope]") {
  auto ok = parse_reply(reply_ok(json{{"slot", 2}}));
  REQUIRE(ok.ok());
  CHECK(*ok == json{{"slot", 2}});
  auto list = parse_reply(reply_ok(json::array({1, 2})));
  REQUIRE(list.ok());
  CHECK(list->size() == 2);
  for (const json& bad : {json::object(), json{{"ok", "true"}}, json{{"ok", true}},
                          json{{"ok", false}}, json{{"ok", false}, {"error", "denied"}},
                          json{{"ok", false}, {"error", {{"code", "denied"}}}},
                          json{{"ok", false}, {"error", {{"code", 3}, {"message", "m"}}}}}) {
    CAPTURE(bad.dump());
    auto r = parse_reply(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::corrupt);
  }
}

TEST_CASE("envelope: file headers name one plain file", "[protocol][envelope]") {
  const json h = make_file_header({"manifest.json", 1234});
  CHECK(h.dump() == R"({"file":"manifest.json","size":1234})");
  auto p = parse_file_header(h);
  REQUIRE(p.ok());
  CHECK(p->name == "manifest.json");
  CHECK(p->size == 1234);
  CHECK(parse_file_header(make_file_header({"Afhøring 1.pdf", 0})).ok());
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "../entries", "a/b", "/etc/passwd", std::string("a\0b", 3), "a\nb",
                          "\x1b[2J", "x\x7f", std::string(256, 'a')}) {
    CAPTURE(bad);
    CHECK_FALSE(valid_file_name(bad));
    CHECK_FALSE(parse_file_header(json{{"file", bad}, {"size", 1}}).ok());
  }
  CHECK(valid_file_name(std::string(255, 'a')));
  CHECK_FALSE(parse_file_header(json{{"file", "a"}, {"size", -1}}).ok());
  CHECK_FALSE(parse_file_header(json{{"file", "a"}, {"size", 1.5}}).ok());
  CHECK_FALSE(parse_file_header(json{{"file", "a"}}).ok());
  CHECK_FALSE(parse_file_header(json{{"size", 1}}).ok());
}

TEST_CASE("envelope: the op table has unique names and the streams of the spec", "[protocol][envelope]") {
  std::set<std::string_view> names;
  for (const auto& op : ops()) {
    CHECK(names.insert(op.name).second);
    CHECK(find_op(op.name) == &op);
    CHECK(parse_request(make_request(op.name, json::object())).ok());
  }
  CHECK(names.size() == 24);
  CHECK(find_op("nope") == nullptr);
  CHECK(find_op("doc.add")->input == Input::required);
  CHECK(find_op("record.start")->input == Input::optional);
  CHECK(find_op("get")->output == Output::data);
  CHECK(find_op("export")->output == Output::files);
  CHECK(find_op("audit.log")->output == Output::files);
  for (const auto& op : ops()) {
    if (op.name != "doc.add" && op.name != "record.start") CHECK(op.input == Input::none);
    if (op.name != "get" && op.name != "export" && op.name != "audit.log") CHECK(op.output == Output::none);
  }
}

TEST_CASE("envelope: CONTROL-PROTOCOL.md's op table lists exactly the ops in the code", "[protocol][envelope]") {
  std::ifstream in(std::string(TILLID_SOURCE_DIR) + "/firmware/CONTROL-PROTOCOL.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  // Rows of the §8 table: "| `op` | input | output | args | result |".
  const auto start = doc.find("## 8.");
  REQUIRE(start != std::string::npos);
  const auto stop = doc.find("\n## ", start + 1);
  const std::string section = doc.substr(start, stop == std::string::npos ? std::string::npos : stop - start);
  std::regex row(R"(\n\| `([a-z.]+)` \| (none|required|optional) \| (none|data|files) \|)");
  std::set<std::string> in_doc;
  for (auto it = std::sregex_iterator(section.begin(), section.end(), row); it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    CAPTURE(name);
    CHECK(in_doc.insert(name).second);
    const OpSpec* op = find_op(name);
    REQUIRE(op != nullptr);
    const char* input = op->input == Input::none ? "none" : op->input == Input::required ? "required" : "optional";
    const char* output = op->output == Output::none ? "none" : op->output == Output::data ? "data" : "files";
    CHECK((*it)[2] == input);
    CHECK((*it)[3] == output);
  }
  CHECK(in_doc.size() == ops().size());
}

TEST_CASE("envelope: wipe_json overwrites every string value", "[protocol][envelope]") {
  json j = {{"passphrase", "correct horse"}, {"nested", {{"cpr", "010101-1234"}, {"list", {"a", 1, "b"}}}}};
  wipe_json(j);
  CHECK(j["passphrase"] == "");
  CHECK(j["nested"]["cpr"] == "");
  CHECK(j["nested"]["list"] == json::array({"", 1, ""}));
}
