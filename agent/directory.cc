#include "agent/directory.h"

#include "absl/strings/numbers.h"

namespace adsync {

absl::StatusOr<RootDse> Directory::ReadRootDse() {
  RootDse dse;
  const SearchRequest req =
      BaseObject("", {"defaultNamingContext", "configurationNamingContext",
                      "dsServiceName", "dnsHostName", "highestCommittedUSN",
                      "supportedControl"});
  bool found = false;
  absl::Status s = Search(req, [&](const LdapEntry& e) {
    found = true;
    dse.default_naming_context = e.First("defaultnamingcontext");
    dse.configuration_naming_context = e.First("configurationnamingcontext");
    dse.ds_service_name = e.First("dsservicename");
    dse.dns_host_name = e.First("dnshostname");
    if (!absl::SimpleAtoi(e.First("highestcommittedusn"),
                          &dse.highest_committed_usn)) {
      return absl::DataLossError(
          "the DC's rootDSE has no valid highestCommittedUSN");
    }
    auto it = e.attributes.find("supportedcontrol");
    if (it != e.attributes.end()) dse.supported_controls = it->second;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return absl::DataLossError("the DC returned no rootDSE");
  return dse;
}

absl::StatusOr<int64_t> Directory::ProbeLiveness(absl::Duration timeout) {
  SearchRequest req = BaseObject("", {"highestCommittedUSN"});
  req.timeout = timeout;
  int64_t usn = -1;
  absl::Status s = Search(req, [&](const LdapEntry& e) {
    if (!absl::SimpleAtoi(e.First("highestcommittedusn"), &usn)) {
      return absl::DataLossError(
          "the DC's rootDSE has no valid highestCommittedUSN");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (usn < 0) return absl::DataLossError("the DC returned no rootDSE");
  return usn;
}

}  // namespace adsync
