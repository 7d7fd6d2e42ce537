#include "tests/support/e2e_harness.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http_client.h"
#include "common/tls.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace adsync::testing {

std::string BinaryPath(const std::string& relative) {
  return absl::StrCat(ADSYNC_BINARY_DIR, "/", relative);
}
Dc::Dc(std::string dir) : dir_(std::move(dir)) {
  std::ifstream in(dir_ + "/env");
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) env_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (env_.empty())
    ADD_FAILURE() << "DC directory " << dir_ << " is not provisioned";
}

void Dc::Ldap(const std::string& tool, const std::string& ldif,
              const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {SourcePath("scripts/samba_dc.sh"), "ldap",
                                   dir_, tool};
  argv.insert(argv.end(), extra.begin(), extra.end());
  RunResult r = RunCommand(argv, ldif);
  ASSERT_EQ(r.exit_code, 0) << tool << " failed: " << r.output << "\nLDIF:\n"
                            << ldif;
}

std::string Dc::AddOu(const std::string& name, const std::string& parent) {
  const std::string dn =
      absl::StrCat("OU=", name, ",", parent.empty() ? base_dn() : parent);
  Ldap("ldapadd",
       absl::StrCat("dn: ", dn, "\nobjectClass: organizationalUnit\nou: ", name,
                    "\n"));
  return dn;
}

std::vector<std::string> Dc::AddUsers(const std::string& ou_dn,
                                      const std::vector<User>& users) {
  // unicodePwd is the quoted password in UTF-16LE.
  std::string utf16;
  for (char c : std::string("\"Adsync-pw1\"")) {
    utf16.push_back(c);
    utf16.push_back('\0');
  }
  const std::string password = absl::Base64Escape(utf16);
  std::string ldif;
  std::vector<std::string> dns;
  for (const User& u : users) {
    const std::string dn = absl::StrCat("CN=", u.sam, ",", ou_dn);
    dns.push_back(dn);
    absl::StrAppend(
        &ldif, "dn: ", dn, "\nobjectClass: user\nsAMAccountName: ", u.sam,
        "\nuserPrincipalName: ",
        u.upn.empty()
            ? absl::StrCat(u.sam, "@", absl::AsciiStrToLower(Env("REALM")))
            : u.upn,
        "\n");
    if (!u.mail.empty()) absl::StrAppend(&ldif, "mail: ", u.mail, "\n");
    absl::StrAppend(&ldif, "unicodePwd:: ", password,
                    "\nuserAccountControl: ", u.disabled ? 514 : 512, "\n\n");
  }
  Ldap("ldapadd", ldif);
  return dns;
}

void Dc::Replace(const std::string& dn, const std::string& attribute,
                 const std::string& value) {
  Ldap("ldapmodify",
       absl::StrCat("dn: ", dn, "\nchangetype: modify\nreplace: ", attribute,
                    "\n", attribute, ": ", value, "\n"));
}

void Dc::Delete(const std::string& dn) { Ldap("ldapdelete", "", {dn}); }

PanelSimProcess::PanelSimProcess(const std::string& dir)
    : dir_(dir), port_(FreePort()), token_file_(dir + "/panel.token") {
  WriteFile(token_file_, "panel-sim-token");
}

void PanelSimProcess::Start() {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{BinaryPath("panel/panel-sim"),
                               absl::StrCat("--listen=127.0.0.1:", port_),
                               "--db=" + dir_ + "/panel.db",
                               "--token_file=" + token_file_},
      dir_ + "/panel-sim.log");
  ASSERT_TRUE(WaitFor([&] { return PortOpen(port_); }, absl::Seconds(10)))
      << process_->Log();
}

void PanelSimProcess::Stop() {
  if (process_) process_->Stop();
}

std::string PanelSimProcess::base_url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

void PanelSimProcess::Post(const std::string& path, const std::string& json) {
  HttpRequest req;
  req.method = "POST";
  req.url = base_url() + path;
  req.body = json;
  auto resp = SendHttp(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->status, 200) << resp->body;
}

void PanelSimProcess::SeedPeople(const std::string& org,
                                 const std::string& people_json) {
  Post(absl::StrCat("/sim/orgs/", org, "/people"), people_json);
}

namespace {
template <typename T>
T GetJson(const std::string& url) {
  HttpRequest req;
  req.url = url;
  T out;
  auto resp = SendHttp(req);
  if (resp.ok() && resp->status == 200) {
    (void)google::protobuf::util::JsonStringToMessage(resp->body, &out);
  }
  return out;
}
}  // namespace

adsync::v1::SimOrgState PanelSimProcess::State(const std::string& org) {
  return GetJson<adsync::v1::SimOrgState>(
      absl::StrCat(base_url(), "/sim/orgs/", org, "/state"));
}

adsync::v1::SimReports PanelSimProcess::Reports(const std::string& org) {
  return GetJson<adsync::v1::SimReports>(
      absl::StrCat(base_url(), "/sim/orgs/", org, "/reports"));
}

adsync::v1::SimStats PanelSimProcess::Stats() {
  return GetJson<adsync::v1::SimStats>(base_url() + "/sim/stats");
}

std::vector<adsync::v1::PanelIdentity> PanelSimProcess::Identities(
    const std::string& org, const std::string& person) {
  const adsync::v1::SimOrgState state = State(org);
  for (const auto& p : state.people()) {
    if (p.person_id() == person)
      return {p.identities().begin(), p.identities().end()};
  }
  return {};
}

std::string PanelSimProcess::PersonOf(const std::string& org,
                                      const std::string& domain,
                                      const std::string& sam) {
  const adsync::v1::SimOrgState state = State(org);
  for (const auto& p : state.people()) {
    for (const auto& id : p.identities()) {
      if (id.domain() == domain && id.sam_account_name() == sam)
        return p.person_id();
    }
  }
  return "";
}

void UseForest(const std::string& forest_dir) {
  setenv("SAMBA_NS", forest_dir.c_str(), 1);
  for (const char* ip : {"127.0.0.41", "127.0.0.42", "127.0.0.43"})
    EnsureLoopbackSource(ip);
}

std::string FastFailoverPanelConfig(const PanelSimProcess& panel) {
  return absl::StrCat(
      "heartbeat_interval_ms: 500\nlease_ttl_ms: 2000\npanel {\n  base_url: "
      "\"",
      panel.base_url(), "\"\n  token_file: \"", panel.token_file(),
      "\"\n  push_interval_ms: 100\n  backoff_initial_ms: 200\n"
      "  backoff_max_ms: 1000\n  disable_periodic_pull: true\n}\n");
}

std::string E2eCertDir() {
  static const std::string dir = [] {
    const std::string d = absl::StrCat(ADSYNC_BINARY_DIR, "/e2e/tls");
    MakeTestCertificates(d);
    return d;
  }();
  return dir;
}

std::shared_ptr<grpc::ChannelCredentials> E2eAgentCredentials() {
  auto credentials = LoadClientTls(E2eCertDir() + "/ca.pem", "", "");
  EXPECT_TRUE(credentials.ok()) << credentials.status();
  return *credentials;
}

Coordinator::Coordinator(const std::string& dir,
                         const std::string& extra_config,
                         const std::string& postgres)
    : dir_(dir), agent_port_(FreePort()), admin_port_(FreePort()) {
  WriteFile(dir_ + "/token", "e2e-admin-token");
  WriteFile(
      dir_ + "/coordinator.textproto",
      absl::StrCat(
          "agent_listen: \"0.0.0.0:", agent_port_, "\"\n",
          "agent_tls { cert_file: \"", E2eCertDir(),
          "/server.pem\" key_file: \"", E2eCertDir(), "/server.key\" }\n",
          "admin_listen: \"127.0.0.1:", admin_port_, "\"\n",
          postgres.empty()
              ? absl::StrCat("database_path: \"", dir_, "/coordinator.db\"\n")
              : absl::StrCat("postgres: \"", postgres, "\"\n"),
          "admin_token_file: \"", dir_, "/token\"\n", extra_config),
      0644);
}

void Coordinator::Start() {
  std::vector<std::string> argv = launch_prefix_;
  for (const std::string& a :
       {BinaryPath("coordinator/adsync-coordinator"), std::string("--config"),
        dir_ + "/coordinator.textproto"}) {
    argv.push_back(a);
  }
  process_ = std::make_unique<Process>(argv, dir_ + "/coordinator.log");
  // Wait for the port before the first RPC: a refused connection would put
  // the channel into reconnect backoff.
  const bool up =
      WaitFor([&] { return PortOpen(admin_port_) && PortOpen(agent_port_); },
              absl::Seconds(20));
  ASSERT_TRUE(up) << "coordinator did not start: " << process_->Log();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", admin_port_),
                                     grpc::InsecureChannelCredentials());
  admin_ = adsync::v1::Admin::NewStub(channel);
  status_ = adsync::v1::Status::NewStub(channel);
}

void Coordinator::Kill9() {
  if (process_) process_->Stop(SIGKILL);
}

void Coordinator::Stop() {
  if (process_) process_->Stop(SIGTERM);
}

std::string Coordinator::agent_target(const std::string& ip) const {
  return absl::StrCat(ip, ":", agent_port_);
}

std::unique_ptr<grpc::ClientContext> Coordinator::Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer e2e-admin-token");
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  return ctx;
}

grpc::Status Coordinator::Preview(const std::string& org,
                                  adsync::v1::PreviewOrgResponse* preview) {
  adsync::v1::PreviewOrgRequest req;
  req.set_org_id(org);
  return admin_->PreviewOrg(Ctx().get(), req, preview);
}

grpc::Status Coordinator::SetLive(const std::string& org, bool live,
                                  const std::string& preview_digest) {
  adsync::v1::SetOrgLiveRequest req;
  req.set_org_id(org);
  req.set_live(live);
  req.set_preview_digest(preview_digest);
  adsync::v1::Org out;
  return admin_->SetOrgLive(Ctx().get(), req, &out);
}

std::string Coordinator::CreateOrg(const std::string& name, bool live) {
  adsync::v1::CreateOrgRequest req;
  req.set_name(name);
  req.set_live(live);
  adsync::v1::Org org;
  grpc::Status s = admin_->CreateOrg(Ctx().get(), req, &org);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return org.org_id();
}

std::string Coordinator::AddSync(const std::string& org,
                                 const std::string& domain,
                                 const std::string& ip, std::string* sync_id,
                                 int priority) {
  adsync::v1::AddSyncRequest req;
  req.set_org_id(org);
  req.set_priority(priority);
  req.set_domain(domain);
  req.add_allowed_ips(ip);
  adsync::v1::AddSyncResponse resp;
  grpc::Status s = admin_->AddSync(Ctx().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  if (sync_id) *sync_id = resp.sync().sync_id();
  return resp.sync_key();
}

void Coordinator::ImportPeople(const std::string& org, const std::string& csv) {
  adsync::v1::ImportPeopleRequest req;
  req.set_org_id(org);
  req.set_csv(csv);
  adsync::v1::ImportPeopleResponse resp;
  grpc::Status s = admin_->ImportPeople(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

adsync::v1::OrgStatus Coordinator::Status(const std::string& org) {
  adsync::v1::GetStatusRequest req;
  req.set_org_id(org);
  adsync::v1::GetStatusResponse resp;
  grpc::Status s = status_->GetStatus(Ctx().get(), req, &resp);
  if (!s.ok() || resp.orgs().empty()) return {};
  return resp.orgs(0);
}

adsync::v1::ResolveLoginResponse Coordinator::Resolve(
    const std::string& org, const std::string& login) {
  adsync::v1::ResolveLoginRequest req;
  req.set_org_id(org);
  req.set_login(login);
  adsync::v1::ResolveLoginResponse resp;
  status_->ResolveLogin(Ctx().get(), req, &resp);
  return resp;
}

grpc::Status Coordinator::PullPeople(const std::string& org) {
  adsync::v1::PullPeopleRequest req;
  req.set_org_id(org);
  adsync::v1::ImportPeopleResponse resp;
  return admin_->PullPeople(Ctx().get(), req, &resp);
}

grpc::Status Coordinator::ResolveQuarantine(const std::string& org,
                                            bool approve) {
  adsync::v1::ResolveQuarantineRequest req;
  req.set_org_id(org);
  req.set_approve(approve);
  adsync::v1::PushStatus resp;
  return admin_->ResolveQuarantine(Ctx().get(), req, &resp);
}

std::string WriteAgentConfig(const AgentSetup& s) {
  WriteFile(s.dir + "/sync.key", s.key);
  // Wine maps the Linux root to drive Z:, and Windows takes "/" too.
  auto agent_path = [&](const std::string& p) {
    return s.windows_paths && !p.empty() ? "Z:" + p : p;
  };
  std::string config = absl::StrCat(
      "coordinator: \"", s.coordinator, "\"\ncoordinator_ca_file: \"",
      agent_path(s.coordinator_ca_file.empty() ? E2eCertDir() + "/ca.pem"
                                               : s.coordinator_ca_file),
      "\"\norg_id: \"", s.org, "\"\nsync_key_file: \"",
      agent_path(s.dir + "/sync.key"), "\"\ndomain: \"", s.domain,
      "\"\npoll_interval_seconds: ", s.poll_interval_seconds,
      "\nbackstop_interval_seconds: ", s.poll_interval_seconds, "\n",
      "backoff_initial_ms: 200\nbackoff_max_ms: 1000\nldap {\n  uri: \"",
      s.ldap_uri, "\"\n  ca_file: \"", agent_path(s.ca_file),
      "\"\n  bind_dn: \"", s.bind_dn, "\"\n  password_file: \"",
      agent_path(s.password_file), "\"\n  timeout_seconds: 5\n");
  for (const auto& b : s.base_dns)
    absl::StrAppend(&config, "  base_dn: \"", b, "\"\n");
  if (s.page_size > 0)
    absl::StrAppend(&config, "  page_size: ", s.page_size, "\n");
  absl::StrAppend(&config, s.ldap_extra, "}\n", s.extra);
  const std::string path = s.dir + "/agent.textproto";
  WriteFile(path, config, 0644);
  return path;
}

AgentSetup DcAgentSetup(const Dc& dc, const Coordinator& coordinator,
                        const std::string& ip, const std::string& org,
                        const std::string& key, const std::string& ou,
                        const std::string& dir) {
  RunCommand({"mkdir", "-p", dir});
  AgentSetup s;
  s.dir = dir;
  s.coordinator = coordinator.agent_target(ip);
  s.org = org;
  s.key = key;
  s.ldap_uri = "ldaps://" + dc.ip();
  s.ca_file = dc.ca_file();
  s.bind_dn = dc.Env("ADMIN_DN");
  s.password_file = dc.password_file();
  s.base_dns = {ou};
  return s;
}

std::unique_ptr<Process> StartAgent(const std::string& config,
                                    const std::string& log) {
  return std::make_unique<Process>(
      std::vector<std::string>{BinaryPath("agent/adsync-agent"), "--config",
                               config},
      log);
}

RunResult RunAgentOnce(const std::string& config) {
  return RunCommand(
      {BinaryPath("agent/adsync-agent"), "--config", config, "--once"}, "",
      absl::Seconds(60));
}

}  // namespace adsync::testing
