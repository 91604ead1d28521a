# The sandbox of the units the modules define: the same directives as
# deploy/systemd's units, which test/integration/units-hardening.test.ts
# scores with `systemd-analyze security --offline=true`.
#
# Each service talks to Chainfire, FlareDB or IAM over the network (AF_INET,
# AF_INET6) and to journald and the systemd manager over AF_UNIX; it reads its
# files and writes only its state directory (StateDirectory= or
# ReadWritePaths=, added by the module). No capability is kept beyond what a
# unit adds (capabilities); no private user namespace, so that root's calls
# to the systemd manager (`systemctl start chainfire.service`) still pass.
# System calls outside @system-service, and those of @privileged and
# @resources, fail with EPERM rather than killing the process: Node.js falls
# back where a call is refused (io_uring, raising RLIMIT_NOFILE).
{ lib }:

{
  serviceConfig =
    {
      capabilities ? [ ],
    }:
    {
      NoNewPrivileges = true;
      ProtectSystem = "strict";
      ProtectHome = true;
      PrivateTmp = true;
      PrivateDevices = true;
      PrivateMounts = true;
      ProtectKernelTunables = true;
      ProtectKernelModules = true;
      ProtectKernelLogs = true;
      ProtectControlGroups = true;
      ProtectClock = true;
      ProtectHostname = true;
      RestrictAddressFamilies = [
        "AF_INET"
        "AF_INET6"
        "AF_UNIX"
      ];
      RestrictNamespaces = true;
      RestrictRealtime = true;
      RestrictSUIDSGID = true;
      LockPersonality = true;
      SystemCallArchitectures = "native";
      SystemCallFilter = [
        "@system-service"
        "~@privileged @resources"
      ];
      SystemCallErrorNumber = "EPERM";
      CapabilityBoundingSet = lib.concatStringsSep " " capabilities;
      AmbientCapabilities = "";
      UMask = "0077";
      # No MemoryDenyWriteExecute: V8's JIT needs writable executable pages.
    };
}
