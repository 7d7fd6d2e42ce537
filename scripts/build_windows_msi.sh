#!/usr/bin/env bash
# Builds the Windows agent's installer from packaging/windows/adsync-agent.wxs
# with wixl (Debian package wixl, msitools 0.101) and msibuild (msitools).
#   scripts/build_windows_msi.sh EXE OUT_MSI [VERSION]
# The service's settings (name, description, event source, restart on
# failure) come from packaging/windows/service_settings.env.
# EXE is the cross-compiled adsync-agent.exe; VERSION (default 0.1.0) is the
# MSI ProductVersion, major.minor.build with each part at most 255.255.65535:
# raise it for every MSI you ship, or Windows Installer refuses the newer
# package as "another version of this product is already installed".
set -euo pipefail
if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 EXE OUT_MSI [VERSION]" >&2
  exit 2
fi
exe=$1 out=$2 version=${3:-0.1.0}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -f $exe ]]; then
  echo "error: $exe does not exist: build the agent first (scripts/build_windows.sh)" >&2
  exit 1
fi
IFS=. read -r major minor build <<<"$version"
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  ((10#$major > 255 || 10#$minor > 255 || 10#$build > 65535)); then
  echo "error: VERSION \"$version\" must be MAJOR.MINOR.BUILD, at most 255.255.65535" >&2
  exit 1
fi
for tool in wixl msibuild; do
  command -v "$tool" >/dev/null || {
    echo "error: $tool not found: apt-get install wixl msitools" >&2
    exit 1
  }
done

# NAME="value" lines, no expansions: sourced here, parsed by msi_test.cc.
# shellcheck source=packaging/windows/service_settings.env
source "$repo/packaging/windows/service_settings.env"

# wixl 0.101 resolves File/@Source relative to the working directory only
# (an absolute path fails), so the two payload files are staged under the
# names the .wxs gives them.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$exe" "$stage/adsync-agent.exe"
cp "$repo/configs/windows/agent.textproto" "$stage/agent.textproto"
mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
tmp="$stage/adsync-agent.msi"
(cd "$stage" && wixl -a x64 -D Version="$version" \
  -D ServiceName="$SERVICE_NAME" -D ServiceDisplayName="$SERVICE_DISPLAY_NAME" \
  -D ServiceDescription="$SERVICE_DESCRIPTION" -D EventSource="$EVENT_SOURCE" \
  -o "$tmp" "$repo/packaging/windows/adsync-agent.wxs")

# What wixl 0.101 cannot write, added to its tables with msibuild:
# 1. The config template's component is NeverOverwrite (128) + Permanent
#    (16) + 64-bit (256): an upgrade or repair never replaces the admin's
#    config, and uninstalling keeps it (wixl ignores those attributes).
msibuild "$tmp" -q "UPDATE \`Component\` SET \`Attributes\` = 400 WHERE \`Component\` = 'AgentConfig'"
# 2. SERVICEACCOUNT is passed from the command line to the elevated part of
#    the install, also when a non-administrator starts it (wixl lists only
#    its own upgrade properties). Not given, it is the installed service's
#    account, which AppSearch read into EXISTINGSERVICEACCOUNT (so that an
#    upgrade keeps a gMSA), else LocalSystem: two type 51 (set a property)
#    custom actions right after AppSearch, in both sequences (a quiet
#    install runs only the second).
msibuild "$tmp" -q "UPDATE \`Property\` SET \`Value\` = 'WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;SERVICEACCOUNT;EXISTINGSERVICEACCOUNT' WHERE \`Property\` = 'SecureCustomProperties'"
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('KeepServiceAccount', 51, 'SERVICEACCOUNT', '[EXISTINGSERVICEACCOUNT]')"
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('DefaultServiceAccount', 51, 'SERVICEACCOUNT', 'LocalSystem')"
appsearch=$(msiinfo export "$tmp" InstallExecuteSequence | tr -d '\r' |
  awk -F'\t' '$1 == "AppSearch" { print $3 }')
[[ -n $appsearch ]] || { echo "error: no AppSearch in $tmp" >&2; exit 1; }
for table in InstallExecuteSequence InstallUISequence; do
  msibuild "$tmp" -q "INSERT INTO \`$table\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('KeepServiceAccount', 'NOT SERVICEACCOUNT AND EXISTINGSERVICEACCOUNT', $((appsearch + 1)))"
  msibuild "$tmp" -q "INSERT INTO \`$table\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('DefaultServiceAccount', 'NOT SERVICEACCOUNT', $((appsearch + 2)))"
done
# 3. The event source's message file is REG_EXPAND_SZ ("#%"), as the
#    agent's `service install` writes it; wixl ignores Type="expandable".
msibuild "$tmp" -q "UPDATE \`Registry\` SET \`Value\` = '#%[#AgentExe]' WHERE \`Name\` = 'EventMessageFile'"
# 4. Restart on failure, as `adsync-agent.exe service install` sets it
#    (packaging/windows/service_settings.env): restart RESTART_DELAY_SECONDS
#    after a failure, RESTART_COUNT times, the count reset after
#    FAILURE_RESET_SECONDS without a failure; and also when `service run`
#    stops with an error, not only on a crash (the failure-actions flag).
#    wixl has no ServiceConfig element,
#    and Windows Installer's MsiServiceConfigFailureActions table fails with
#    error 1939 for restart actions, so two deferred custom actions run
#    sc.exe as SYSTEM right after InstallServices (5800), not on uninstall:
#    type 34 (exe in a directory) + 1024 deferred + 2048 no impersonation.
#    The first fails the install if sc.exe fails; the second's exit code is
#    ignored (+ 64), as `service install` only warns then. Added here, not as
#    <Custom> in the .wxs: wixl 0.101 then re-sorts the sequence and moves
#    MajorUpgrade's RemoveExistingProducts from after InstallValidate to
#    after InstallFinalize, and it has no type 34 (Directory + ExeCommand).
restarts=
for ((i = 0; i < RESTART_COUNT; i++)); do
  restarts+=${restarts:+/}restart/$((RESTART_DELAY_SECONDS * 1000))
done
sc='"[System64Folder]sc.exe"'
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('SetServiceRecovery', 3106, 'INSTALLDIR', '$sc failure $SERVICE_NAME reset= $FAILURE_RESET_SECONDS actions= $restarts')"
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('SetServiceRecoveryOnError', 3170, 'INSTALLDIR', '$sc failureflag $SERVICE_NAME 1')"
msibuild "$tmp" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('SetServiceRecovery', 'NOT REMOVE', 5850)"
msibuild "$tmp" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('SetServiceRecoveryOnError', 'NOT REMOVE', 5851)"
# 5. C:\ProgramData\adsync (CONFIGDIR) and everything in it: SYSTEM and
#    Administrators only, not ProgramData's inherited entries (there Users
#    may create files and folders, and would own what they create: a
#    config of theirs, that NeverOverwrite would keep, could send the AD
#    Sync key to their coordinator).
#    a. The folder's DACL, protected (P) from inheritance, its entries
#       inherited by everything created in it (OICI): an MsiLockPermissionsEx
#       row (Windows Installer 5) on its CreateFolder row, which CreateFolders
#       applies at every install, upgrade and repair, also to a folder that
#       exists already.
#    b. On a first install, a folder that exists already (made by a user
#       before the MSI, or kept by an uninstall) and everything in it get
#       Administrators as owner (an owner may always change the DACL) before
#       CreateFolders, and what is in it loses its own entries and inherits
#       the folder's after it: deferred, as SYSTEM, icacls through cmd.exe
#       for `if exist`. Not on upgrades: what an administrator set since
#       (protect-secret's DACLs) stays.
#    c. A service account other than LocalSystem may read the folder (the
#       agent reads its config and secret files there), given after each
#       lock by name, which SDDL cannot hold.
lock_sddl='D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
msibuild "$tmp" -q "CREATE TABLE \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\` CHAR(72) NOT NULL, \`LockObject\` CHAR(72) NOT NULL, \`Table\` CHAR(32) NOT NULL, \`SDDL\` LONGCHAR NOT NULL, \`Condition\` CHAR(255) PRIMARY KEY \`MsiLockPermissionsEx\`)"
msibuild "$tmp" -q "INSERT INTO \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\`, \`LockObject\`, \`Table\`, \`SDDL\`) VALUES ('LockConfigDir', 'CONFIGDIR', 'CreateFolder', '$lock_sddl')"
cmd='"[System64Folder]cmd.exe" /d /c'
icacls='"[System64Folder]icacls.exe"'
first_install='NOT Installed AND NOT WIX_UPGRADE_DETECTED'
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('OwnConfigDir', 3106, 'INSTALLDIR', '$cmd if exist \"[CONFIGDIR].\" $icacls \"[CONFIGDIR].\" /setowner *S-1-5-32-544 /T /C /Q')"
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('ResetConfigDirFiles', 3106, 'INSTALLDIR', '$cmd if exist \"[CONFIGDIR]*\" $icacls \"[CONFIGDIR]*\" /reset /T /C /Q')"
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('GrantConfigDirToServiceAccount', 3106, 'INSTALLDIR', '$icacls \"[CONFIGDIR].\" /grant \"[SERVICEACCOUNT]:(OI)(CI)RX\" /Q')"
msibuild "$tmp" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('OwnConfigDir', '$first_install', 3690)"
msibuild "$tmp" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('ResetConfigDirFiles', '$first_install', 3710)"
msibuild "$tmp" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('GrantConfigDirToServiceAccount', 'NOT REMOVE AND SERVICEACCOUNT <> \"LocalSystem\"', 5852)"

mv "$tmp" "$out_abs"
echo "built $out ($version, $(stat -c %s "$out") bytes)"
