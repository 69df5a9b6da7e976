// The fixed vectors of tests/vectors/control-v1 (made by an independent Python encoder): each
// good stream decodes to its frames and our encoder writes the same bytes; each bad stream is
// refused where the vector says.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "tillid/control.hpp"

using namespace tillid;
using namespace tillid::control;
using json = nlohmann::json;
using Bytes = std::vector<unsigned char>;

namespace {

json load_vectors() {
  std::ifstream in(std::string(TILLID_SOURCE_DIR) + "/tests/vectors/control-v1/vectors.json");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

Bytes from_hex(const std::string& hex) {
  REQUIRE(hex.size() % 2 == 0);
  Bytes out;
  for (std::size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Decodes a whole stream; returns the frames and, if decoding stopped, why.
std::pair<std::vector<Frame>, std::optional<Error>> decode_all(const Bytes& stream) {
  FrameDecoder d;
  std::vector<Frame> frames;
  std::span<const unsigned char> rest(stream);
  while (!rest.empty()) {
    auto used = d.feed(rest);
    if (!used) return {std::move(frames), used.error()};
    rest = rest.subspan(*used);
    while (auto f = d.pop()) frames.push_back(std::move(*f));
  }
  if (!d.idle()) return {std::move(frames), make_error(Errc::corrupt, "truncated")};
  return {std::move(frames), std::nullopt};
}

}  // namespace

TEST_CASE("vectors: good control-v1 streams decode to their frames and encode back", "[protocol][vectors]") {
  const json v = load_vectors();
  REQUIRE(v["version"] == kVersion);
  REQUIRE(v["good"].size() >= 8);
  for (const auto& g : v["good"]) {
    const std::string name = g["name"];
    CAPTURE(name);
    const Bytes stream = from_hex(g["stream"]);
    auto [frames, err] = decode_all(stream);
    REQUIRE_FALSE(err);
    REQUIRE(frames.size() == g["frames"].size());
    Bytes encoded, joined;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const json& want = g["frames"][i];
      CAPTURE(i);
      CHECK(to_string(frames[i].kind) == want["kind"].get<std::string>());
      Result<Secret> again = make_error(Errc::internal, "unset");
      if (want.contains("json")) {
        auto j = parse_json_object(frames[i].bytes());
        REQUIRE(j.ok());
        CHECK(*j == want["json"]);
        again = encode_json_frame(want["json"], frames[i].kind);
      } else if (want.contains("hex")) {
        const Bytes body = from_hex(want["hex"]);
        CHECK(Bytes(frames[i].bytes().begin(), frames[i].bytes().end()) == body);
        again = encode_frame(frames[i].kind, body);
        if (frames[i].kind == FrameKind::part) {
          joined.insert(joined.end(), body.begin(), body.end());
        } else if (frames[i].kind == FrameKind::json) {
          // The final piece of a split message (§3): the pieces join to the vector's message.
          joined.insert(joined.end(), body.begin(), body.end());
          auto j = parse_json_object(joined);
          REQUIRE(j.ok());
          CHECK(*j == g["message"]);
          joined.clear();
        }
      } else {
        CHECK(frames[i].body.size() == 0);
        again = encode_frame(FrameKind::end, {});
      }
      REQUIRE(again.ok());
      encoded.insert(encoded.end(), again->data(), again->data() + again->size());
    }
    CHECK(encoded == stream);
  }
}

TEST_CASE("vectors: the envelope of the good vectors parses", "[protocol][vectors]") {
  const json v = load_vectors();
  for (const auto& g : v["good"]) {
    const std::string name = g["name"];
    CAPTURE(name);
    if (g.contains("message")) CHECK(parse_reply(g["message"]).ok());
    for (const auto& f : g["frames"]) {
      if (!f.contains("json")) continue;
      if (f["kind"] == "file") {
        CHECK(parse_file_header(f["json"]).ok());
      } else if (f["kind"] == "json") {
        const json& j = f["json"];
        if (j.contains("protocol")) CHECK(parse_hello(j).ok());
        else if (j.contains("op")) CHECK(parse_request(j).ok());
        else if (j.contains("ok")) {
          auto r = parse_reply(j);
          if (j["ok"] == true) CHECK(r.ok());
          else CHECK(r.error().code == Errc::denied);
        } else {
          FAIL("a JSON frame that is neither hello, request nor reply");
        }
      }
    }
  }
}

TEST_CASE("vectors: bad control-v1 streams are refused where the vector says", "[protocol][vectors]") {
  const json v = load_vectors();
  REQUIRE(v["bad"].size() >= 8);
  for (const auto& b : v["bad"]) {
    const std::string name = b["name"];
    CAPTURE(name);
    auto [frames, err] = decode_all(from_hex(b["stream"]));
    REQUIRE(err);
    CHECK(frames.size() == b["frames_before"].get<std::size_t>());
    CHECK_THAT(err->message, Catch::Matchers::Contains(b["error"].get<std::string>()));
  }
}
