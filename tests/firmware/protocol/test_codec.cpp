// JSON codecs (CONTROL-PROTOCOL.md §9): to_json prints exactly what `tillid --json` printed
// before the daemon (the expected texts below were produced by tools/tillid/output.cpp and the
// command files as they were at the start of issue 11), and from_json is its inverse.
#include <catch2/catch.hpp>

#include "tillid/control_codec.hpp"

using namespace tillid;
using namespace tillid::control;
using json = nlohmann::json;

namespace {

CaseInfo sample_case() {
  return CaseInfo{"0123456789abcdef0123456789abcdef", "2026-17", "0101", "Åse \"Ø\" Ærø", "010101-1234",
                  "notes\nline", 1763850471, "anna", true};
}

ItemInfo sample_document() {
  ItemInfo d;
  d.id = "aa";
  d.case_id = "bb";
  d.size = 123456789012ull;
  for (int i = 0; i < 32; ++i) d.sha256[i] = static_cast<unsigned char>(i * 8 + 1);
  d.title = "Afhøring";
  d.file_name = "a b.pdf";
  d.created_unix = 1763850471;
  d.creator = "bo";
  d.verified = false;
  return d;
}

ItemInfo sample_recording(bool interrupted) {
  ItemInfo r = sample_document();
  r.kind = ItemKind::recording;
  r.interviewer = "Ida";
  r.duration_ms = 3723004;
  r.interrupted = interrupted;
  r.interrupted_unix = interrupted ? 1763850999 : 0;
  r.bookmark_count = 3;
  r.verified = true;
  return r;
}

bool same(const ItemInfo& a, const ItemInfo& b) {
  return a.id == b.id && a.case_id == b.case_id && a.kind == b.kind && a.size == b.size && a.sha256 == b.sha256 &&
         a.title == b.title && a.file_name == b.file_name && a.created_unix == b.created_unix &&
         a.creator == b.creator && a.interviewer == b.interviewer && a.duration_ms == b.duration_ms &&
         a.interrupted == b.interrupted && a.interrupted_unix == b.interrupted_unix &&
         a.bookmark_count == b.bookmark_count && a.verified == b.verified;
}

bool same(const CaseInfo& a, const CaseInfo& b) {
  return a.id == b.id && a.case_number == b.case_number && a.municipality == b.municipality &&
         a.child_name == b.child_name && a.cpr == b.cpr && a.notes == b.notes && a.created_unix == b.created_unix &&
         a.creator == b.creator && a.verified == b.verified;
}

// Every required field of `j` removed in turn, and replaced by a value of the wrong type,
// makes from_json fail naming that field.
template <class T>
void each_field_is_required(const json& j) {
  for (const auto& [key, value] : j.items()) {
    CAPTURE(key);
    json missing = j;
    missing.erase(key);
    auto r = decode<T>(missing);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::corrupt);
    CHECK(r.error().message.find(key) != std::string::npos);
    json wrong = j;
    wrong[key] = value.is_string() ? json(json::array()) : json("x");
    CHECK_FALSE(decode<T>(wrong).ok());
  }
}

}  // namespace

TEST_CASE("codec: times print as --json printed them and parse back exactly", "[protocol][codec]") {
  CHECK(format_time(0) == "1970-01-01 00:00:00 UTC");
  CHECK(format_time(1763850471) == "2025-11-22 22:27:51 UTC");
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{1}, std::int64_t{1763850471}, std::int64_t{-86401},
                         std::int64_t{4102444800}, std::int64_t{951782400} /* 2000-02-29 */}) {
    CAPTURE(t);
    auto back = parse_time(format_time(t));
    REQUIRE(back);
    CHECK(*back == t);
  }
  for (const char* bad : {"", "2025-11-22 22:27:51", "2025-11-22 22:27:51 UTC ", "2025-2-3 01:02:03 UTC",
                          "2025-02-30 00:00:00 UTC", "2025-11-22 24:00:00 UTC", "2025-11-22T22:27:51Z",
                          "x2025-11-22 22:27:51 UTC"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_time(bad));
  }
}

TEST_CASE("codec: CaseInfo as --json printed it, and back", "[protocol][codec]") {
  const json j = to_json(sample_case());
  CHECK(j.dump() ==
        R"({"case_number":"2026-17","child_name":"Åse \"Ø\" Ærø","cpr":"010101-1234","created":"2025-11-22 22:27:51 UTC","created_unix":1763850471,"creator":"anna","id":"0123456789abcdef0123456789abcdef","municipality":"0101","notes":"notes\nline","verified":true})");
  auto back = decode<CaseInfo>(j);
  REQUIRE(back.ok());
  CHECK(same(*back, sample_case()));
  json without_printed = j;
  without_printed.erase("created");  // the printed time is for people; created_unix is the value
  CHECK(decode<CaseInfo>(without_printed).ok());
  without_printed.erase("created_unix");
  CHECK_FALSE(decode<CaseInfo>(without_printed).ok());
}

TEST_CASE("codec: ItemInfo (document) as --json printed it, and back", "[protocol][codec]") {
  const json j = to_json(sample_document());
  CHECK(j.dump() ==
        R"({"case_id":"bb","created":"2025-11-22 22:27:51 UTC","created_unix":1763850471,"creator":"bo","file_name":"a b.pdf","id":"aa","kind":"document","sha256":"0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9","size":123456789012,"title":"Afhøring","verified":false})");
  auto back = decode<ItemInfo>(j);
  REQUIRE(back.ok());
  CHECK(same(*back, sample_document()));
  json row = j;
  row["case_number"] = "2026-17";  // `ls` rows add the case number: ignored
  CHECK(decode<ItemInfo>(row).ok());
  json upper = j;
  upper["sha256"] = "0109111921293139414951596169717981899199A1A9B1B9C1C9D1D9E1E9F1F9";
  CHECK_FALSE(decode<ItemInfo>(upper).ok());
  json short_sha = j;
  short_sha["sha256"] = "0109";
  CHECK_FALSE(decode<ItemInfo>(short_sha).ok());
  json kind = j;
  kind["kind"] = "video";
  CHECK_FALSE(decode<ItemInfo>(kind).ok());
  json negative = j;
  negative["size"] = -1;
  CHECK_FALSE(decode<ItemInfo>(negative).ok());
  json created = j;
  created.erase("created");
  each_field_is_required<ItemInfo>(created);
}

TEST_CASE("codec: ItemInfo (recording) as --json printed it, and back", "[protocol][codec]") {
  const json cut = to_json(sample_recording(true));
  CHECK(cut.dump() ==
        R"({"bookmark_count":3,"case_id":"bb","created":"2025-11-22 22:27:51 UTC","created_unix":1763850471,"creator":"bo","duration_ms":3723004,"file_name":"a b.pdf","id":"aa","interrupted":true,"interrupted_at":"2025-11-22 22:36:39 UTC","interviewer":"Ida","kind":"recording","sha256":"0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9","size":123456789012,"title":"Afhøring","verified":true})");
  const json whole = to_json(sample_recording(false));
  CHECK(whole.dump() ==
        R"({"bookmark_count":3,"case_id":"bb","created":"2025-11-22 22:27:51 UTC","created_unix":1763850471,"creator":"bo","duration_ms":3723004,"file_name":"a b.pdf","id":"aa","interrupted":false,"interviewer":"Ida","kind":"recording","sha256":"0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9","size":123456789012,"title":"Afhøring","verified":true})");
  for (bool interrupted : {true, false}) {
    auto back = decode<ItemInfo>(to_json(sample_recording(interrupted)));
    REQUIRE(back.ok());
    CHECK(same(*back, sample_recording(interrupted)));
  }
  // record show adds the exact time; it wins over the printed one.
  json shown = cut;
  shown["interrupted_unix"] = 1763850999;
  shown["interrupted_at"] = "garbage";
  auto back = decode<ItemInfo>(shown);
  REQUIRE(back.ok());
  CHECK(back->interrupted_unix == 1763850999);
  json no_time = cut;
  no_time.erase("interrupted_at");
  CHECK_FALSE(decode<ItemInfo>(no_time).ok());
  json no_interviewer = whole;
  no_interviewer.erase("interviewer");
  CHECK_FALSE(decode<ItemInfo>(no_interviewer).ok());
}

TEST_CASE("codec: KeySlotInfo as key ls --json printed it, and back", "[protocol][codec]") {
  const KeySlotInfo s{2, "backup \"officer\"", 1763850471};
  const json j = to_json(s);
  CHECK(j.dump() == R"({"created":"2025-11-22 22:27:51 UTC","label":"backup \"officer\"","slot":2})");
  auto back = decode<KeySlotInfo>(j);
  REQUIRE(back.ok());
  CHECK(back->id == 2);
  CHECK(back->label == s.label);
  CHECK(back->created_unix == s.created_unix);
  each_field_is_required<KeySlotInfo>(j);
  json huge = j;
  huge["slot"] = 1ll << 40;
  CHECK_FALSE(decode<KeySlotInfo>(huge).ok());
}

TEST_CASE("codec: Bookmark as record show --json printed it, and back", "[protocol][codec]") {
  const Bookmark b{4, 61234, "barnet græder", 1763850471};
  const json j = to_json(b);
  CHECK(j.dump() == R"({"created_unix":1763850471,"label":"barnet græder","offset_ms":61234,"seq":4})");
  auto back = decode<Bookmark>(j);
  REQUIRE(back.ok());
  CHECK(back->seq == 4);
  CHECK(back->offset_ms == 61234);
  CHECK(back->label == b.label);
  CHECK(back->created_unix == b.created_unix);
  each_field_is_required<Bookmark>(j);
}

TEST_CASE("codec: VerifyReport as verify --json printed it, and back", "[protocol][codec]") {
  VerifyReport r;
  r.items_checked = 7;
  r.bytes_checked = 5000000000ull;
  r.problems = {{"aa", "chunk 3 failed authentication"}, {"", "stray object objects/xx"}};
  const json j = to_json(r);
  CHECK(j.dump() ==
        R"({"bytes_checked":5000000000,"clean":false,"items_checked":7,"problems":[{"item":"aa","problem":"chunk 3 failed authentication"},{"item":"","problem":"stray object objects/xx"}]})");
  auto back = decode<VerifyReport>(j);
  REQUIRE(back.ok());
  CHECK(back->items_checked == 7);
  CHECK(back->bytes_checked == 5000000000ull);
  REQUIRE(back->problems.size() == 2);
  CHECK(back->problems[1].item_id.empty());
  CHECK(back->problems[1].what == "stray object objects/xx");
  const json clean = to_json(VerifyReport{});
  CHECK(clean.dump() == R"({"bytes_checked":0,"clean":true,"items_checked":0,"problems":[]})");
  CHECK(decode<VerifyReport>(clean).ok());
  // A report that says clean while listing problems is not believed.
  json liar = j;
  liar["clean"] = true;
  CHECK_FALSE(decode<VerifyReport>(liar).ok());
  json bad_problem = j;
  bad_problem["problems"][0].erase("problem");
  CHECK_FALSE(decode<VerifyReport>(bad_problem).ok());
  each_field_is_required<VerifyReport>(j);
}

TEST_CASE("codec: ExportSummary as export --json printed it, and back", "[protocol][codec]") {
  ExportSummary s;
  s.dir = "/tmp/bundle";
  s.item = sample_document();
  s.content_file = "a b.pdf";
  s.log_entries = 4;
  s.checkpoint_size = 99;
  s.exported_unix = 1763850471;
  s.public_key_hex = std::string(64, 'e');
  s.verifier_key = "tillid.local/x+01234567+AAAA";
  const json j = to_json(s);
  json expected = {{"dir", "/tmp/bundle"},
                   {"item", to_json(s.item)},
                   {"content_file", "a b.pdf"},
                   {"log_entries", 4},
                   {"checkpoint_size", 99},
                   {"exported_unix", 1763850471},
                   {"public_key_hex", std::string(64, 'e')},
                   {"verifier_key", "tillid.local/x+01234567+AAAA"}};
  CHECK(j == expected);
  CHECK(j.size() == 8);
  auto back = decode<ExportSummary>(j);
  REQUIRE(back.ok());
  CHECK(back->dir == s.dir);
  CHECK(same(back->item, s.item));
  CHECK(back->content_file == s.content_file);
  CHECK(back->log_entries == 4);
  CHECK(back->checkpoint_size == 99);
  CHECK(back->exported_unix == s.exported_unix);
  CHECK(back->public_key_hex == s.public_key_hex);
  CHECK(back->verifier_key == s.verifier_key);
  each_field_is_required<ExportSummary>(j);
  json bad_item = j;
  bad_item["item"].erase("sha256");
  CHECK_FALSE(decode<ExportSummary>(bad_item).ok());
}

TEST_CASE("codec: User, with and without a uid, and back", "[protocol][codec]") {
  User u{"anna.k", Role::caseworker, std::nullopt, "0101", 1763850471, true};
  json j = to_json(u);
  CHECK(j.dump() ==
        R"({"created":"2025-11-22 22:27:51 UTC","created_unix":1763850471,"municipality":"0101","name":"anna.k","revoked":true,"role":"caseworker","uid":null})");
  auto back = decode<User>(j);
  REQUIRE(back.ok());
  CHECK(back->name == "anna.k");
  CHECK(back->role == Role::caseworker);
  CHECK_FALSE(back->uid);
  CHECK(back->municipality == "0101");
  CHECK(back->revoked);
  for (Role r : {Role::admin, Role::staff, Role::caseworker, Role::auditor}) {
    User v{"x", r, 61001u, "", 5, false};
    auto rt = decode<User>(to_json(v));
    REQUIRE(rt.ok());
    CHECK(rt->role == r);
    REQUIRE(rt->uid);
    CHECK(*rt->uid == 61001u);
  }
  CHECK(to_json(User{"x", Role::admin, 0u, "", 0, false})["role"] == "admin");
  CHECK(to_json(User{"x", Role::staff, 0u, "", 0, false})["role"] == "staff");
  CHECK(to_json(User{"x", Role::auditor, 0u, "", 0, false})["role"] == "auditor");
  json bad = j;
  bad["role"] = "operator";
  CHECK_FALSE(decode<User>(bad).ok());
  bad = j;
  bad["uid"] = 1ll << 33;
  CHECK_FALSE(decode<User>(bad).ok());
  bad = j;
  bad["uid"] = -1;
  CHECK_FALSE(decode<User>(bad).ok());
  json created = j;
  created.erase("created");
  each_field_is_required<User>(created);
}

TEST_CASE("codec: lists decode element by element", "[protocol][codec]") {
  json list = json::array({to_json(sample_case()), to_json(sample_case())});
  auto cases = decode<std::vector<CaseInfo>>(list);
  REQUIRE(cases.ok());
  CHECK(cases->size() == 2);
  list[1].erase("cpr");
  CHECK_FALSE(decode<std::vector<CaseInfo>>(list).ok());
  CHECK_FALSE(decode<std::vector<CaseInfo>>(to_json(sample_case())).ok());
  auto empty = decode<std::vector<ItemInfo>>(json::array());
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}
