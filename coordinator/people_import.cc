#include "coordinator/people_import.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/text.h"

namespace adsync {

absl::StatusOr<std::vector<CsvRow>> ParseCsv(absl::string_view text) {
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError(
        "the file is not valid UTF-8; save it as UTF-8 CSV and import again");
  }
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");  // Excel's byte-order mark
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  int line = 1;
  row.line = 1;
  bool in_quotes = false;
  bool field_started = false;
  int quote_line = 0;
  auto end_field = [&]() {
    row.fields.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_row = [&]() {
    end_field();
    const bool blank = row.fields.size() == 1 && row.fields[0].empty();
    if (!blank) rows.push_back(std::move(row));
    row = CsvRow();
    row.line = line;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    switch (c) {
      case '"':
        if (field_started && !field.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", line,
                           ": a quote inside an unquoted field; quote the "
                           "whole field and double inner quotes (\"\")"));
        }
        in_quotes = true;
        field_started = true;
        quote_line = line;
        break;
      case ',':
        end_field();
        break;
      case '\r':
        break;
      case '\n':
        ++line;
        end_row();
        break;
      default:
        field.push_back(c);
        field_started = true;
    }
  }
  if (in_quotes) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", quote_line, ": a quoted field is never closed"));
  }
  end_row();
  return rows;
}

namespace {

constexpr int kMaxReportedErrors = 20;

class ErrorList {
 public:
  void Add(int line, absl::string_view message) {
    ++count_;
    if (messages_.size() < kMaxReportedErrors) {
      messages_.push_back(absl::StrCat("line ", line, ": ", message));
    }
  }
  absl::Status ToStatus() const {
    if (count_ == 0) return absl::OkStatus();
    std::string more =
        count_ > static_cast<int>(messages_.size())
            ? absl::StrCat(" (and ", count_ - messages_.size(), " more)")
            : "";
    return absl::InvalidArgumentError(
        absl::StrCat(count_,
                     " bad row(s); nothing was imported. Fix them and import "
                     "again: ",
                     absl::StrJoin(messages_, "; "), more));
  }

 private:
  int count_ = 0;
  std::vector<std::string> messages_;
};

// Adds `raw` to `person` if it is an email; reports it otherwise.
void AddEmail(absl::string_view raw, int line, const std::string& column,
              Person* person, ErrorList* errors) {
  if (absl::StripAsciiWhitespace(raw).empty()) return;
  std::string email = NormalizeEmail(raw);
  if (email.empty()) {
    errors->Add(line,
                absl::StrCat(column, " \"", raw, "\" is not an email address"));
    return;
  }
  for (const auto& e : person->emails) {
    if (e == email) return;
  }
  person->emails.push_back(std::move(email));
}

absl::StatusOr<std::vector<Person>> ParseOneRoster(
    const std::vector<CsvRow>& rows) {
  std::map<std::string, int> col;
  for (size_t i = 0; i < rows[0].fields.size(); ++i) {
    col[std::string(absl::StripAsciiWhitespace(rows[0].fields[i]))] =
        static_cast<int>(i);
  }
  for (const char* required : {"sourcedId", "email"}) {
    if (!col.count(required)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line 1: OneRoster users.csv needs a \"", required,
                       "\" column; export users.csv from the SIS again"));
    }
  }
  auto get = [&](const CsvRow& r, const char* name) -> std::string {
    auto it = col.find(name);
    if (it == col.end() || it->second >= static_cast<int>(r.fields.size()))
      return "";
    return std::string(absl::StripAsciiWhitespace(r.fields[it->second]));
  };
  ErrorList errors;
  std::vector<Person> people;
  std::set<std::string> ids;
  for (size_t i = 1; i < rows.size(); ++i) {
    const CsvRow& r = rows[i];
    if (r.fields.size() != rows[0].fields.size()) {
      errors.Add(r.line, absl::StrCat("has ", r.fields.size(),
                                      " columns; the header has ",
                                      rows[0].fields.size()));
      continue;
    }
    if (absl::EqualsIgnoreCase(get(r, "status"), "tobedeleted")) continue;
    Person p;
    p.id = get(r, "sourcedId");
    if (p.id.empty()) {
      errors.Add(r.line, "sourcedId is empty");
      continue;
    }
    if (!ids.insert(p.id).second) {
      errors.Add(r.line, absl::StrCat("sourcedId ", p.id, " appears twice"));
      continue;
    }
    p.name = std::string(absl::StripAsciiWhitespace(
        absl::StrCat(get(r, "givenName"), " ", get(r, "familyName"))));
    AddEmail(get(r, "email"), r.line, "email", &p, &errors);
    // userIds: "{Type:identifier},{Type:identifier}"; take emails only.
    for (absl::string_view entry :
         absl::StrSplit(get(r, "userIds"), ',', absl::SkipWhitespace())) {
      entry = absl::StripAsciiWhitespace(entry);
      absl::ConsumePrefix(&entry, "{");
      absl::ConsumeSuffix(&entry, "}");
      const size_t colon = entry.find(':');
      absl::string_view id =
          colon == absl::string_view::npos ? entry : entry.substr(colon + 1);
      if (!NormalizeEmail(id).empty())
        AddEmail(id, r.line, "userIds", &p, &errors);
    }
    people.push_back(std::move(p));
  }
  if (absl::Status s = errors.ToStatus(); !s.ok()) return s;
  return people;
}

absl::StatusOr<std::vector<Person>> ParsePlain(
    const std::vector<CsvRow>& rows) {
  ErrorList errors;
  std::vector<Person> people;
  std::set<std::string> ids;
  for (size_t i = 0; i < rows.size(); ++i) {
    const CsvRow& r = rows[i];
    const std::string id(absl::StripAsciiWhitespace(r.fields[0]));
    if (i == 0 && absl::EqualsIgnoreCase(id, "id")) continue;  // header
    if (id.empty()) {
      errors.Add(r.line, "the person id (first column) is empty");
      continue;
    }
    if (!ids.insert(id).second) {
      errors.Add(r.line, absl::StrCat("person id ", id, " appears twice"));
      continue;
    }
    Person p;
    p.id = id;
    for (size_t k = 1; k < r.fields.size(); ++k) {
      AddEmail(r.fields[k], r.line, absl::StrCat("column ", k + 1), &p,
               &errors);
    }
    if (p.emails.empty() && r.fields.size() < 2) {
      errors.Add(
          r.line,
          absl::StrCat("person ", id,
                       " has no email; the format is id,email[,email...]"));
      continue;
    }
    people.push_back(std::move(p));
  }
  if (absl::Status s = errors.ToStatus(); !s.ok()) return s;
  return people;
}

}  // namespace

absl::StatusOr<std::vector<Person>> ParsePeopleCsv(
    absl::string_view csv, adsync::v1::ImportPeopleRequest::Format format) {
  auto rows = ParseCsv(csv);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) {
    return absl::InvalidArgumentError(
        "the file has no rows; nothing was imported");
  }
  if (format == adsync::v1::ImportPeopleRequest::FORMAT_UNSPECIFIED) {
    format = absl::StripAsciiWhitespace((*rows)[0].fields[0]) == "sourcedId"
                 ? adsync::v1::ImportPeopleRequest::FORMAT_ONEROSTER
                 : adsync::v1::ImportPeopleRequest::FORMAT_PLAIN;
  }
  if (format == adsync::v1::ImportPeopleRequest::FORMAT_ONEROSTER) {
    return ParseOneRoster(*rows);
  }
  return ParsePlain(*rows);
}

}  // namespace adsync
