// adsyncctl: the operator's CLI for the coordinator's admin endpoint.
// Run `adsyncctl help` for usage.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "adsync/v1/admin.grpc.pb.h"
#include "common/files.h"
#include "common/tls.h"
#include "coordinator/csv_export.h"
#include "ctl/format.h"
#include "google/protobuf/util/json_util.h"

namespace adsync {
namespace {

constexpr char kUsage[] =
    R"(usage: adsyncctl [--admin ADDR] [--token-file FILE] [--ca-file FILE] COMMAND ...

Connection (defaults: --admin 127.0.0.1:7444, token from $ADSYNC_ADMIN_TOKEN
or --token-file):
  --admin ADDR          coordinator admin endpoint (host:port or unix:/path)
  --token-file FILE     file holding the admin token (mode 600)
  --ca-file FILE        connect over TLS, verifying the coordinator against
                        this CA (PEM); needed when it sets admin_tls
  --cert-file FILE      with --key-file: adsyncctl's certificate, when
  --key-file FILE       admin_tls.client_ca_file requires one (key mode 600)

Commands:
  org create --name NAME [--id GUID] [--match-upn] [--match-proxy-addresses] [--live]
                                       new orgs start in preview unless --live
  org list
  preview --org ORG [--json|--csv]     what going live would change in K12Panel
  org go-live --org ORG [--preview DIGEST]
                                       start pushing: exactly the changes of that
                                       preview (default: of a preview taken now)
  org preview --org ORG                stop pushing; back into preview
  sync add --org ORG --domain NETBIOS --ip IP[,IP...] [--dns-name NAME] [--priority N]
  sync list --org ORG
  sync rotate-key --org ORG --sync SYNC_ID
  sync remove --org ORG --sync SYNC_ID
  people import --org ORG FILE [--format oneroster|plain] [--dry-run]
  people pull --org ORG                fetch People from K12Panel now
  push approve --org ORG               release a quarantined push
  push reject --org ORG                drop the quarantined removals
  sweep approve --org ORG --domain D   remove the accounts a held full-sync sweep would remove
  sweep reject --org ORG --domain D    keep them (drop the held sweep)
  status [--org ORG] [--json] [--watch SECONDS]
  resolve --org ORG LOGIN [--json]     LOGIN: DOMAIN\user, user@upn or S-1-5-...
  accounts --org ORG [--outcome unmatched,ambiguous,...] [--csv|--json] [--limit N]
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --key value or --flag -> "1"

  bool Has(const std::string& k) const { return options.count(k) > 0; }
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = options.find(k);
    return it == options.end() ? def : it->second;
  }
};

const char* const kBooleanFlags[] = {
    "json", "csv", "dry-run", "match-upn", "match-proxy-addresses",
    "live", "help"};

bool IsBoolean(const std::string& name) {
  for (const char* f : kBooleanFlags) {
    if (name == f) return true;
  }
  return false;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "error: %s\n\n%s", message.c_str(), kUsage);
  return 2;
}

int FailRpc(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Fail(absl::StrCat(
        "cannot reach the coordinator (", s.error_message(),
        "); is it running, and is --admin right? If its admin listener "
        "uses TLS (admin_tls), pass --ca-file with the CA that signed its "
        "certificate (and --cert-file/--key-file if it requires one)"));
  }
  return Fail(s.error_message());
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

class Client {
 public:
  Client(std::shared_ptr<grpc::Channel> channel, std::string token)
      : admin_(adsync::v1::Admin::NewStub(channel)),
        status_(adsync::v1::Status::NewStub(channel)),
        token_(std::move(token)) {}

  std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + token_);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(30));
    return ctx;
  }

  adsync::v1::Admin::Stub& admin() { return *admin_; }
  adsync::v1::Status::Stub& status() { return *status_; }

 private:
  std::unique_ptr<adsync::v1::Admin::Stub> admin_;
  std::unique_ptr<adsync::v1::Status::Stub> status_;
  std::string token_;
};

std::string RequireOrg(const Args& a) { return a.Get("org"); }

bool Need(const Args& a, const char* option) {
  return a.Has(option) && !a.Get(option).empty();
}

// A large district's preview or account list is bigger than gRPC's
// default 4 MiB answer.
grpc::ChannelArguments ChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(1 << 30);
  return args;
}

int OrgCreate(Client& c, const Args& a) {
  if (!Need(a, "name")) return Usage("org create needs --name");
  adsync::v1::CreateOrgRequest req;
  req.set_name(a.Get("name"));
  req.set_org_id(a.Get("id"));
  req.set_match_upn(a.Has("match-upn"));
  req.set_match_proxy_addresses(a.Has("match-proxy-addresses"));
  req.set_live(a.Has("live"));
  adsync::v1::Org org;
  grpc::Status s = c.admin().CreateOrg(c.Context().get(), req, &org);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(org).c_str()), 0;
  std::printf("created org %s (%s)%s\n", org.org_id().c_str(),
              org.name().c_str(),
              org.live() ? ", live"
                         : ", in preview: check `adsyncctl preview`, then "
                           "`adsyncctl org go-live`");
  return 0;
}

int OrgSetLive(Client& c, const Args& a) {
  const std::string sub = a.positional[1];
  if (!Need(a, "org")) return Usage(absl::StrCat("org ", sub, " needs --org"));
  adsync::v1::SetOrgLiveRequest req;
  req.set_org_id(a.Get("org"));
  req.set_live(sub == "go-live");
  req.set_preview_digest(a.Get("preview"));
  if (req.live() && req.preview_digest().empty()) {
    // Go live with exactly the changes shown here, nothing that appears
    // between this preview and the call.
    adsync::v1::PreviewOrgRequest preview_req;
    preview_req.set_org_id(req.org_id());
    adsync::v1::PreviewOrgResponse preview;
    auto ctx = c.Context();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::minutes(5));
    grpc::Status s = c.admin().PreviewOrg(ctx.get(), preview_req, &preview);
    if (!s.ok()) return FailRpc(s);
    std::printf(
        "going live with preview %s: %u People added, %u changed, "
        "%u removed\n",
        preview.digest().c_str(), preview.people_added(),
        preview.people_changed(), preview.people_removed());
    req.set_preview_digest(preview.digest());
  }
  adsync::v1::Org org;
  auto ctx = c.Context();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  grpc::Status s = c.admin().SetOrgLive(ctx.get(), req, &org);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(org).c_str()), 0;
  std::printf("org %s is %s\n", org.org_id().c_str(),
              org.live() ? "live: its mappings are pushed to K12Panel"
                         : "in preview: nothing is written to K12Panel; "
                           "`adsyncctl org go-live` resumes");
  return 0;
}

int Preview(Client& c, const Args& a) {
  if (!Need(a, "org")) return Usage("preview needs --org");
  adsync::v1::PreviewOrgRequest req;
  req.set_org_id(a.Get("org"));
  adsync::v1::PreviewOrgResponse resp;
  auto ctx = c.Context();
  // Reading K12Panel's identities of a large district takes a while.
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  grpc::Status s = c.admin().PreviewOrg(ctx.get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(resp).c_str()), 0;
  if (a.Has("csv")) {
    return std::printf("%s", FormatPreviewCsv(resp).c_str()), 0;
  }
  std::printf("%s",
              FormatPreview(resp, absl::ToUnixSeconds(absl::Now())).c_str());
  return 0;
}

int OrgList(Client& c, const Args& a) {
  adsync::v1::ListOrgsResponse resp;
  grpc::Status s = c.admin().ListOrgs(c.Context().get(), {}, &resp);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(resp).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {
      {"ORG ID", "NAME", "MATCHING", "MODE"}};
  for (const auto& o : resp.orgs()) {
    std::string matching = "mail";
    if (o.match_proxy_addresses()) matching += ",proxyAddresses";
    if (o.match_upn()) matching += ",upn";
    rows.push_back(
        {o.org_id(), o.name(), matching, o.live() ? "live" : "preview"});
  }
  std::printf("%s", RenderTable(rows).c_str());
  return 0;
}

int SyncAdd(Client& c, const Args& a) {
  if (!Need(a, "org") || !Need(a, "domain") || !Need(a, "ip")) {
    return Usage("sync add needs --org, --domain and --ip");
  }
  adsync::v1::AddSyncRequest req;
  req.set_org_id(RequireOrg(a));
  req.set_domain(a.Get("domain"));
  req.set_dns_name(a.Get("dns-name"));
  for (absl::string_view ip :
       absl::StrSplit(a.Get("ip"), ',', absl::SkipEmpty())) {
    req.add_allowed_ips(std::string(ip));
  }
  int priority = 0;
  if (a.Has("priority") && !absl::SimpleAtoi(a.Get("priority"), &priority)) {
    return Usage("--priority takes a whole number");
  }
  req.set_priority(priority);
  adsync::v1::AddSyncResponse resp;
  grpc::Status s = c.admin().AddSync(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(resp).c_str()), 0;
  std::printf(
      "added AD Sync %s for domain %s\nAD Sync key: %s\n"
      "Save the key now into the agent's key file (chmod 600); it is "
      "not shown again.\n",
      resp.sync().sync_id().c_str(), resp.sync().domain().c_str(),
      resp.sync_key().c_str());
  return 0;
}

int SyncList(Client& c, const Args& a) {
  if (!Need(a, "org")) return Usage("sync list needs --org");
  adsync::v1::ListSyncsRequest req;
  req.set_org_id(RequireOrg(a));
  adsync::v1::ListSyncsResponse resp;
  grpc::Status s = c.admin().ListSyncs(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(resp).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {
      {"SYNC ID", "DOMAIN", "DNS NAME", "ALLOWED IPS", "PRIORITY"}};
  for (const auto& sy : resp.syncs()) {
    std::string ips;
    for (const auto& ip : sy.allowed_ips())
      ips += (ips.empty() ? "" : ",") + ip;
    rows.push_back({sy.sync_id(), sy.domain(),
                    sy.dns_name().empty() ? "-" : sy.dns_name(), ips,
                    absl::StrCat(sy.priority())});
  }
  std::printf("%s", RenderTable(rows).c_str());
  return 0;
}

int SyncRemove(Client& c, const Args& a) {
  if (!Need(a, "org") || !Need(a, "sync"))
    return Usage("sync remove needs --org and --sync");
  adsync::v1::RemoveSyncRequest req;
  req.set_org_id(RequireOrg(a));
  req.set_sync_id(a.Get("sync"));
  adsync::v1::RemoveSyncResponse resp;
  grpc::Status s = c.admin().RemoveSync(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  std::printf("removed AD Sync %s\n", req.sync_id().c_str());
  return 0;
}

int SyncRotateKey(Client& c, const Args& a) {
  if (!Need(a, "org") || !Need(a, "sync"))
    return Usage("sync rotate-key needs --org and --sync");
  adsync::v1::RotateSyncKeyRequest req;
  req.set_org_id(RequireOrg(a));
  req.set_sync_id(a.Get("sync"));
  adsync::v1::AddSyncResponse resp;
  grpc::Status s = c.admin().RotateSyncKey(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  std::printf(
      "new AD Sync key: %s\nThe old key no longer works; put the new "
      "one into the agent's key file now.\n",
      resp.sync_key().c_str());
  return 0;
}

int PeopleImport(Client& c, const Args& a) {
  const auto& p = a.positional;
  if (!Need(a, "org") || p.size() < 3)
    return Usage("people import needs --org and a FILE");
  auto csv = ReadFile(p[2]);
  if (!csv.ok()) return Fail(std::string(csv.status().message()));
  adsync::v1::ImportPeopleRequest req;
  req.set_org_id(RequireOrg(a));
  req.set_csv(*csv);
  req.set_dry_run(a.Has("dry-run"));
  const std::string format = a.Get("format");
  if (format == "oneroster") {
    req.set_format(adsync::v1::ImportPeopleRequest::FORMAT_ONEROSTER);
  } else if (format == "plain") {
    req.set_format(adsync::v1::ImportPeopleRequest::FORMAT_PLAIN);
  } else if (!format.empty()) {
    return Usage("--format is oneroster or plain");
  }
  adsync::v1::ImportPeopleResponse resp;
  grpc::Status s = c.admin().ImportPeople(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  std::printf("%s %u People with %u emails; %u accounts re-matched\n",
              req.dry_run() ? "would import" : "imported", resp.people(),
              resp.emails(), resp.rematched_accounts());
  return 0;
}

int PeoplePull(Client& c, const Args& a) {
  if (!Need(a, "org")) return Usage("people pull needs --org");
  adsync::v1::PullPeopleRequest req;
  req.set_org_id(RequireOrg(a));
  adsync::v1::ImportPeopleResponse resp;
  grpc::Status s = c.admin().PullPeople(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  std::printf(
      "pulled %u People with %u emails from K12Panel; %u accounts "
      "re-matched\n",
      resp.people(), resp.emails(), resp.rematched_accounts());
  return 0;
}

int PushApproveOrReject(Client& c, const Args& a) {
  const std::string sub = a.positional[1];
  if (!Need(a, "org")) return Usage(absl::StrCat("push ", sub, " needs --org"));
  adsync::v1::ResolveQuarantineRequest req;
  req.set_org_id(RequireOrg(a));
  req.set_approve(sub == "approve");
  adsync::v1::PushStatus resp;
  grpc::Status s = c.admin().ResolveQuarantine(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  std::printf(
      "%s; %llu People queued for K12Panel\n",
      sub == "approve"
          ? "quarantine released: the held updates will be delivered"
          : "quarantined removals dropped: K12Panel keeps those identities",
      static_cast<unsigned long long>(resp.queue_depth()));
  return 0;
}

int SweepApproveOrReject(Client& c, const Args& a) {
  const std::string sub = a.positional[1];
  if (!Need(a, "org") || !Need(a, "domain")) {
    return Usage(absl::StrCat("sweep ", sub, " needs --org and --domain"));
  }
  adsync::v1::ResolveSweepRequest req;
  req.set_org_id(RequireOrg(a));
  req.set_domain(a.Get("domain"));
  req.set_approve(sub == "approve");
  adsync::v1::ResolveSweepResponse resp;
  grpc::Status s = c.admin().ResolveSweep(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  if (sub == "approve") {
    std::printf("sweep applied: %llu accounts marked gone\n",
                static_cast<unsigned long long>(resp.removed()));
  } else {
    std::printf("held sweep dropped: the accounts stay\n");
  }
  return 0;
}

int Status(Client& c, const Args& a) {
  int watch = 0;
  if (a.Has("watch") &&
      (!absl::SimpleAtoi(a.Get("watch"), &watch) || watch <= 0)) {
    return Usage("--watch takes a number of seconds");
  }
  while (true) {
    adsync::v1::GetStatusRequest req;
    req.set_org_id(a.Get("org"));
    adsync::v1::GetStatusResponse resp;
    grpc::Status s = c.status().GetStatus(c.Context().get(), req, &resp);
    if (!s.ok()) return FailRpc(s);
    if (watch) std::printf("\033[H\033[2J");
    if (a.Has("json")) {
      std::printf("%s\n", ToJson(resp).c_str());
    } else {
      std::printf("%s",
                  FormatStatus(resp, absl::ToUnixSeconds(absl::Now())).c_str());
    }
    std::fflush(stdout);
    if (!watch) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(watch));
  }
}

int Resolve(Client& c, const Args& a) {
  const auto& p = a.positional;
  if (!Need(a, "org") || p.size() < 2)
    return Usage("resolve needs --org and a LOGIN");
  adsync::v1::ResolveLoginRequest req;
  req.set_org_id(RequireOrg(a));
  req.set_login(p[1]);
  adsync::v1::ResolveLoginResponse resp;
  grpc::Status s = c.status().ResolveLogin(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(resp).c_str()), 0;
  std::printf("%s", FormatResolve(resp).c_str());
  return resp.found() ? 0 : 3;
}

int Accounts(Client& c, const Args& a) {
  if (!Need(a, "org")) return Usage("accounts needs --org");
  adsync::v1::ListAccountsRequest req;
  req.set_org_id(RequireOrg(a));
  for (absl::string_view o :
       absl::StrSplit(a.Get("outcome"), ',', absl::SkipEmpty())) {
    req.add_outcomes(std::string(o));
  }
  uint32_t limit = 0;
  if (a.Has("limit") && !absl::SimpleAtoi(a.Get("limit"), &limit)) {
    return Usage("--limit takes a whole number");
  }
  req.set_limit(limit);
  adsync::v1::ListAccountsResponse resp;
  grpc::Status s = c.status().ListAccounts(c.Context().get(), req, &resp);
  if (!s.ok()) return FailRpc(s);
  if (a.Has("json")) return std::printf("%s\n", ToJson(resp).c_str()), 0;
  if (a.Has("csv"))
    return std::printf("%s", FormatAccountsCsv(resp).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {
      {"LOGIN", "MAIL", "OUTCOME", "PERSON", "ENABLED"}};
  for (const auto& acc : resp.accounts()) {
    rows.push_back({absl::StrCat(acc.domain(), "\\", acc.sam_account_name()),
                    acc.mail().empty() ? "-" : acc.mail(), acc.outcome(),
                    acc.person_id().empty() ? "-" : acc.person_id(),
                    acc.enabled() ? "yes" : "no"});
  }
  std::printf("%s", RenderTable(rows).c_str());
  return 0;
}

// adsyncctl's commands: COMMAND [SUBCOMMAND], each run by one function.
struct Command {
  const char* command;
  const char* subcommand;  // nullptr: the command takes none
  int (*run)(Client& c, const Args& a);
};
constexpr Command kCommands[] = {
    {"org", "create", OrgCreate},
    {"org", "list", OrgList},
    {"org", "go-live", OrgSetLive},
    {"org", "preview", OrgSetLive},
    {"preview", nullptr, Preview},
    {"sync", "add", SyncAdd},
    {"sync", "list", SyncList},
    {"sync", "rotate-key", SyncRotateKey},
    {"sync", "remove", SyncRemove},
    {"people", "import", PeopleImport},
    {"people", "pull", PeoplePull},
    {"push", "approve", PushApproveOrReject},
    {"push", "reject", PushApproveOrReject},
    {"sweep", "approve", SweepApproveOrReject},
    {"sweep", "reject", SweepApproveOrReject},
    {"status", nullptr, Status},
    {"resolve", nullptr, Resolve},
    {"accounts", nullptr, Accounts},
};

int Run(Client& c, const Args& a) {
  const auto& p = a.positional;
  const std::string cmd = p.empty() ? "" : p[0];
  const std::string sub = p.size() > 1 ? p[1] : "";
  for (const Command& command : kCommands) {
    if (cmd == command.command &&
        (command.subcommand == nullptr || sub == command.subcommand)) {
      return command.run(c, a);
    }
  }
  return Usage(cmd.empty()
                   ? "no command given"
                   : absl::StrCat("unknown command \"", cmd,
                                  (sub.empty() ? "" : " " + sub), "\""));
}

}  // namespace
}  // namespace adsync

int main(int argc, char** argv) {
  using adsync::Args;
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      std::string name = arg.substr(2);
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        args.options[name.substr(0, eq)] = name.substr(eq + 1);
      } else if (adsync::IsBoolean(name)) {
        args.options[name] = "1";
      } else if (i + 1 < argc) {
        args.options[name] = argv[++i];
      } else {
        return adsync::Usage(absl::StrCat("--", name, " needs a value"));
      }
    } else {
      args.positional.push_back(arg);
    }
  }
  if (args.Has("help") ||
      (!args.positional.empty() && args.positional[0] == "help")) {
    std::printf("%s", adsync::kUsage);
    return 0;
  }
  std::string token;
  if (args.Has("token-file")) {
    auto t = adsync::ReadSecretFile(args.Get("token-file"), "admin token file");
    if (!t.ok()) return adsync::Fail(std::string(t.status().message()));
    token = *t;
  } else if (const char* env = std::getenv("ADSYNC_ADMIN_TOKEN")) {
    token = env;
  } else {
    return adsync::Usage(
        "no admin token: pass --token-file FILE or set ADSYNC_ADMIN_TOKEN");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (args.Has("cert-file") != args.Has("key-file")) {
    return adsync::Usage("pass --cert-file and --key-file together");
  }
  if (args.Has("cert-file") && !args.Has("ca-file")) {
    return adsync::Usage(
        "--cert-file needs --ca-file: a client certificate is only sent over "
        "TLS");
  }
  if (args.Has("ca-file")) {
    auto tls = adsync::LoadClientTls(
        args.Get("ca-file"), args.Get("cert-file"), args.Get("key-file"),
        {"--ca-file", "--cert-file", "--key-file"});
    if (!tls.ok()) return adsync::Fail(std::string(tls.status().message()));
    credentials = *tls;
  }
  auto channel =
      grpc::CreateCustomChannel(args.Get("admin", "127.0.0.1:7444"),
                                credentials, adsync::ChannelArguments());
  adsync::Client client(channel, token);
  return adsync::Run(client, args);
}
