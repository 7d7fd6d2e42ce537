#include "agent/account_reader.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/repl_metadata.h"
#include "common/sid.h"
#include "common/text.h"

namespace adsync {

using adsync::v1::Attribute;

const std::vector<std::string>& AccountAttributes() {
  static const std::vector<std::string> kAttributes = {"objectGUID",
                                                       "objectSid",
                                                       "sAMAccountName",
                                                       "userPrincipalName",
                                                       "mail",
                                                       "proxyAddresses",
                                                       "displayName",
                                                       "userAccountControl",
                                                       "uSNChanged",
                                                       "isDeleted",
                                                       "replPropertyMetaData"};
  return kAttributes;
}

namespace {

Attribute AttributeForAttid(uint32_t attid) {
  switch (attid) {
    case kAttidSamAccountName:
      return adsync::v1::ATTRIBUTE_SAM_ACCOUNT_NAME;
    case kAttidUserPrincipalName:
      return adsync::v1::ATTRIBUTE_USER_PRINCIPAL_NAME;
    case kAttidMail:
      return adsync::v1::ATTRIBUTE_MAIL;
    case kAttidProxyAddresses:
      return adsync::v1::ATTRIBUTE_PROXY_ADDRESSES;
    case kAttidDisplayName:
      return adsync::v1::ATTRIBUTE_DISPLAY_NAME;
    case kAttidUserAccountControl:
      return adsync::v1::ATTRIBUTE_USER_ACCOUNT_CONTROL;
    case kAttidIsDeleted:
      return adsync::v1::ATTRIBUTE_IS_DELETED;
    default:
      return adsync::v1::ATTRIBUTE_UNSPECIFIED;
  }
}

}  // namespace

absl::StatusOr<adsync::v1::ProfileDelta> EntryToDelta(const LdapEntry& e) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("account ", e.dn, ": ", what));
  };
  adsync::v1::ProfileDelta d;
  const std::string& guid = e.First("objectguid");
  if (guid.size() != 16) {
    return bad(absl::StrCat(
        "objectGUID is ", guid.size(),
        " bytes, expected 16; is the bind account allowed to read it?"));
  }
  d.set_object_guid(guid);
  const std::string& sid = e.First("objectsid");
  if (!sid.empty()) {
    if (auto parsed = SidBinaryToString(sid); !parsed.ok()) {
      return bad(absl::StrCat("objectSid: ", parsed.status().message()));
    }
    d.set_object_sid(sid);
  }
  struct Text {
    const char* attr;
    std::string* (adsync::v1::ProfileDelta::*mutable_field)();
  };
  for (const Text& t :
       {Text{"samaccountname",
             &adsync::v1::ProfileDelta::mutable_sam_account_name},
        Text{"userprincipalname",
             &adsync::v1::ProfileDelta::mutable_user_principal_name},
        Text{"mail", &adsync::v1::ProfileDelta::mutable_mail},
        Text{"displayname", &adsync::v1::ProfileDelta::mutable_display_name}}) {
    const std::string& v = e.First(t.attr);
    if (!IsValidUtf8(v))
      return bad(absl::StrCat(t.attr, " is not valid UTF-8"));
    *(d.*t.mutable_field)() = v;
  }
  if (auto it = e.attributes.find("proxyaddresses"); it != e.attributes.end()) {
    for (const std::string& p : it->second) {
      if (!IsValidUtf8(p))
        return bad("proxyAddresses has a value that is not valid UTF-8");
      d.add_proxy_addresses(p);
    }
  }
  if (const std::string& uac = e.First("useraccountcontrol"); !uac.empty()) {
    int64_t value;
    if (!absl::SimpleAtoi(uac, &value))
      return bad(
          absl::StrCat("userAccountControl \"", uac, "\" is not a number"));
    d.set_user_account_control(static_cast<uint32_t>(value));
  }
  d.set_deleted(absl::EqualsIgnoreCase(e.First("isdeleted"), "TRUE"));
  if (const std::string& usn = e.First("usnchanged"); !usn.empty()) {
    int64_t value;
    if (!absl::SimpleAtoi(usn, &value))
      return bad("uSNChanged is not a number");
    d.set_usn_changed(value);
  }
  const std::string& blob = e.First("replpropertymetadata");
  if (blob.empty()) {
    return bad(
        "replPropertyMetaData is missing; the bind account must be able to "
        "read it");
  }
  auto meta = ParseReplPropertyMetaData(blob);
  if (!meta.ok()) return bad(meta.status().message());
  for (const ReplAttributeMeta& m : *meta) {
    const Attribute attr = AttributeForAttid(m.attid);
    if (attr == adsync::v1::ATTRIBUTE_UNSPECIFIED) continue;
    adsync::v1::AttributeStamp* st = d.add_stamps();
    st->set_attribute(attr);
    st->set_version(m.version);
    st->set_originating_time(m.originating_time);
    st->set_originating_invocation_id(m.originating_invocation_id);
    st->set_originating_usn(static_cast<int64_t>(m.originating_usn));
  }
  return d;
}

}  // namespace adsync
