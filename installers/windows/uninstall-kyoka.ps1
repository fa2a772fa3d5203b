<#
.SYNOPSIS
  Removes what install-kyoka.ps1 installed: the service kyoka-agent, C:\Program Files\kyoka and,
  unless -KeepData, C:\ProgramData\kyoka (config, credential, queue, state, logs).
.NOTES
  Run elevated. 日本語: 管理者として実行してください。-KeepData を付けると設定と状態を残します。
#>
[CmdletBinding()]
param([switch] $KeepData)
$ErrorActionPreference = "Stop"
$service = "kyoka-agent"
if (Get-Service -Name $service -ErrorAction SilentlyContinue) {
  Stop-Service -Name $service -Force -ErrorAction SilentlyContinue
  & sc.exe delete $service | Out-Null
}
Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $env:ProgramFiles "kyoka")
if (-not $KeepData) { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $env:ProgramData "kyoka") }
Write-Host "kyoka agent removed"
