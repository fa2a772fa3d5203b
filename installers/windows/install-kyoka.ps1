<#
.SYNOPSIS
  Installs the kyoka agent without the MSI (for sites that deploy scripts): the same layout, service
  and settings as kyoka-<version>-x64.msi.
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-kyoka.ps1 -Exe .\kyoka-win-x64.exe -ServerUrl wss://kyoka.example:8443 -EnrollToken XXXX
.NOTES
  Run elevated (Administrator). Layout: C:\Program Files\kyoka\kyoka.exe; C:\ProgramData\kyoka\
  (agent.yaml, credential, queue, state, agent.log) restricted to SYSTEM and Administrators; the
  service kyoka-agent (automatic, LocalSystem, restart after 5 s, 5 s, 60 s, also on an error exit).
  Running it again upgrades the program in place and keeps the state.
  日本語: 管理者として実行してください。MSI と同じ配置・サービス・設定でエージェントを導入します。
#>
[CmdletBinding()]
param(
  [Parameter(Mandatory = $true)] [string] $Exe,
  [Parameter(Mandatory = $true)] [string] $ServerUrl,
  [string] $EnrollToken = "",
  [string] $CaFile = ""
)
$ErrorActionPreference = "Stop"

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw "Run this script as Administrator (管理者として実行してください)."
}

$installDir = Join-Path $env:ProgramFiles "kyoka"
$dataDir = Join-Path $env:ProgramData "kyoka"
$target = Join-Path $installDir "kyoka.exe"
$config = Join-Path $dataDir "agent.yaml"
$service = "kyoka-agent"

# an upgrade: stop the running service first
$existing = Get-Service -Name $service -ErrorAction SilentlyContinue
if ($existing -and $existing.Status -ne "Stopped") { Stop-Service -Name $service -Force }

New-Item -ItemType Directory -Force -Path $installDir | Out-Null
Copy-Item -Force -Path $Exe -Destination $target

# config (kyoka configure also restricts C:\ProgramData\kyoka to SYSTEM and Administrators)
$configureArgs = @("configure", "--config", $config, "--state-dir", $dataDir, "--server", $ServerUrl)
if ($EnrollToken) { $configureArgs += @("--enroll-token", $EnrollToken) }
if ($CaFile) { $configureArgs += @("--ca", $CaFile) }
& $target @configureArgs
if ($LASTEXITCODE -ne 0) { throw "kyoka configure failed (exit $LASTEXITCODE)" }

# enroll now: a wrong URL or token shows here (the service would retry)
& $target enroll --config $config
if ($LASTEXITCODE -ne 0) { Write-Warning "kyoka could not enroll now; the service retries at each start (check $config)" }

$binPath = "`"$target`" agent --service --config `"$config`""
if (-not $existing) {
  New-Service -Name $service -BinaryPathName $binPath -DisplayName "kyoka agent" -StartupType Automatic `
    -Description "kyoka endpoint policy agent: reports software, network, media, P2P and hardware changes to the kyoka server" | Out-Null
} else {
  & sc.exe config $service binPath= $binPath start= auto | Out-Null
}
# restart on failure, also when the agent exits with an error code
& sc.exe failure $service reset= 86400 actions= restart/5000/restart/5000/restart/60000 | Out-Null
& sc.exe failureflag $service 1 | Out-Null
# the agent's Node settings (lib/node-flags.ts), in the service's environment as the MSI sets them
New-ItemProperty -Force -Path "HKLM:\SYSTEM\CurrentControlSet\Services\$service" -Name Environment -PropertyType MultiString `
  -Value @("NODE_OPTIONS=--max-semi-space-size=1 --v8-pool-size=1") | Out-Null
Start-Service -Name $service
Write-Host "kyoka agent installed and started: $target (service $service, data $dataDir)"
