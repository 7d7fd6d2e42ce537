#!/usr/bin/env bash
# Builds the Windows agent's installer from packaging/windows/adsync-agent.wxs
# with wixl (Debian package wixl, msitools 0.101) and msibuild (msitools).
#   scripts/build_windows_msi.sh EXE OUT_MSI [VERSION]
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
(cd "$stage" && wixl -a x64 -D Version="$version" -o "$tmp" \
  "$repo/packaging/windows/adsync-agent.wxs")

# What wixl 0.101 cannot write, added to its tables with msibuild:
# 1. The config template's component is NeverOverwrite (128) + Permanent
#    (16) + 64-bit (256): an upgrade or repair never replaces the admin's
#    config, and uninstalling keeps it (wixl ignores those attributes).
msibuild "$tmp" -q "UPDATE \`Component\` SET \`Attributes\` = 400 WHERE \`Component\` = 'AgentConfig'"
# 2. SERVICEACCOUNT is passed from the command line to the elevated part of
#    the install, also when a non-administrator starts it (wixl lists only
#    its own upgrade properties).
msibuild "$tmp" -q "UPDATE \`Property\` SET \`Value\` = 'WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;SERVICEACCOUNT' WHERE \`Property\` = 'SecureCustomProperties'"
# 3. The event source's message file is REG_EXPAND_SZ ("#%"), as the
#    agent's `service install` writes it; wixl ignores Type="expandable".
msibuild "$tmp" -q "UPDATE \`Registry\` SET \`Value\` = '#%[#AgentExe]' WHERE \`Name\` = 'EventMessageFile'"
# 4. Restart on failure, as `adsync-agent.exe service install` sets it:
#    restart after 60 s, three times, the count reset after a day without a
#    failure; and also when `service run` stops with an error, not only on a
#    crash (the failure-actions flag). wixl has no ServiceConfig element,
#    and Windows Installer's MsiServiceConfigFailureActions table fails with
#    error 1939 for restart actions, so two deferred custom actions run
#    sc.exe as SYSTEM right after InstallServices (5800), not on uninstall:
#    type 34 (exe in a directory) + 1024 deferred + 2048 no impersonation.
#    The first fails the install if sc.exe fails; the second's exit code is
#    ignored (+ 64), as `service install` only warns then. Added here, not as
#    <Custom> in the .wxs: wixl 0.101 then re-sorts the sequence and moves
#    MajorUpgrade's RemoveExistingProducts from after InstallValidate to
#    after InstallFinalize, and it has no type 34 (Directory + ExeCommand).
sc='"[System64Folder]sc.exe"'
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('SetServiceRecovery', 3106, 'INSTALLDIR', '$sc failure adsync-agent reset= 86400 actions= restart/60000/restart/60000/restart/60000')"
msibuild "$tmp" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('SetServiceRecoveryOnError', 3170, 'INSTALLDIR', '$sc failureflag adsync-agent 1')"
msibuild "$tmp" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('SetServiceRecovery', 'NOT REMOVE', 5850)"
msibuild "$tmp" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('SetServiceRecoveryOnError', 'NOT REMOVE', 5851)"

mv "$tmp" "$out_abs"
echo "built $out ($version, $(stat -c %s "$out") bytes)"
