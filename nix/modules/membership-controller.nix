# membership-controller on the control-plane nodes: every replica watches the
# NodeMembership records, one leader at a time reconciles them.
#
#   imports = [ ./nix/modules ];   # both modules and nix/overlay.nix
#   services.membership-controller = {
#     enable = true;
#     endpoints = [ "https://10.0.1.10:2379" "https://10.0.1.11:2379" "https://10.0.1.12:2379" ];
#     tls = {
#       caFile = "/etc/nixos/secrets/ca.crt";
#       certFile = "/etc/nixos/secrets/membership-controller.crt";
#       keyFile = "/etc/nixos/secrets/membership-controller.key";
#     };
#     auth = {
#       user = "membership-controller";
#       passwordFile = "/etc/nixos/secrets/membership-controller.password";
#     };
#     iam = {
#       endpoints = [ "https://10.0.1.10:8080" ];
#       tls.caFile = "/etc/nixos/secrets/ca.crt";
#       adminSecretFile = "/etc/nixos/secrets/iam-admin.json";
#     };
#   };
#
# Secrets (the keys, the password, the IAM admin secret) are referenced by
# path and never enter the Nix store: systemd hands them to the controller as
# credentials (LoadCredential=), so they stay root's files, mode 0600, and
# need not be given to the controller's user. The configuration file is
# generated (pkgs.formats.json) from the options below and `settings`, which
# takes any field of docs/controller-config.md.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.services.membership-controller;
  connection = import ./lib/connection-options.nix { inherit lib; };
  hardening = import ./lib/hardening.nix { inherit lib; };
  settingsFormat = pkgs.formats.json { };
  inherit (lib)
    filterAttrs
    mkEnableOption
    mkIf
    mkOption
    optionalAttrs
    optionals
    types
    ;

  # Chainfire's, FlareDB's and IAM's.
  tlsOptions = connection.tlsOptions {
    caFile.description = "CA that signed the service's server certificate.";
    certFile.description = "Client certificate for mTLS (with keyFile).";
    keyFile.description = "Private key of certFile, handed over by LoadCredential=: root's file, mode 0600.";
  };

  # FlareDB's and IAM's blocks of the configuration file (docs/controller-config.md).
  httpServiceOptions = {
    endpoints = mkOption {
      type = types.listOf types.str;
      description = "Admin API URLs, tried in order.";
    };
    tls = tlsOptions;
    requestTimeoutMs = mkOption {
      type = types.ints.between 100 600000;
      default = 5000;
      description = "Deadline of one HTTP request.";
    };
    retries = mkOption {
      type = types.ints.between 0 20;
      default = 3;
      description = "Retries of transient failures within one call.";
    };
    allowedLeaderHosts = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "10.0.1.13:2479" ];
      description = "Hosts (host or host:port) besides the endpoints' own that a leader hint or redirect may send a call to; any other is refused.";
    };
  };

  nonNull = filterAttrs (_: v: v != null);

  # Where systemd puts the unit's credentials ($CREDENTIALS_DIRECTORY, %d in the unit): the
  # configuration file names the secrets there.
  credentialsDir = "/run/credentials/membership-controller.service";

  # The secrets of the configuration file, as credentials: { name; file; }.
  fileCredentials =
    optionals (cfg.flaredb != null && cfg.flaredb.tls.keyFile != null) [
      {
        name = "flaredb-key";
        file = cfg.flaredb.tls.keyFile;
      }
    ]
    ++ optionals (cfg.iam != null && cfg.iam.tls.keyFile != null) [
      {
        name = "iam-key";
        file = cfg.iam.tls.keyFile;
      }
    ]
    ++ optionals (cfg.iam != null) [
      {
        name = "iam-admin-secret";
        file = cfg.iam.adminSecretFile;
      }
    ];

  # FlareDB's or IAM's block; `service` names its key's credential.
  serviceSettings =
    service: s:
    {
      inherit (s) endpoints requestTimeoutMs retries;
    }
    // optionalAttrs (s.tls.caFile != null) {
      tls = nonNull (s.tls // optionalAttrs (s.tls.keyFile != null) { keyFile = "${credentialsDir}/${service}-key"; });
    }
    // optionalAttrs (s.allowedLeaderHosts != [ ]) { inherit (s) allowedLeaderHosts; };

  stateDir = "/var/lib/membership-controller";

  # What the options give; `settings` is merged over it.
  optionSettings =
    {
      chainfire.callTimeoutMs = cfg.callTimeoutMs;
      snapshots = {
        inherit (cfg.snapshots)
          dir
          onFailure
          maxCount
          maxBytes
          minFreeBytes
          ;
      };
    }
    // optionalAttrs (cfg.flaredb != null) { flaredb = serviceSettings "flaredb" cfg.flaredb; }
    // optionalAttrs (cfg.iam != null) {
      iam = serviceSettings "iam" cfg.iam // {
        adminSecretFile = "${credentialsDir}/iam-admin-secret";
      };
    };

  configFile = settingsFormat.generate "membership-controller.json" (lib.recursiveUpdate optionSettings cfg.settings);

  # Chainfire's key and password file.
  secrets = connection.tlsAuthArgs cfg;

  # The metrics port, for openFirewall: the port of metricsAddr (host:port, [v6]:port).
  metricsPort =
    let
      m = builtins.match ".*:([0-9]+)" cfg.metricsAddr;
    in
    if m == null then null else lib.toInt (builtins.head m);

  args =
    [
      "${cfg.package}/bin/membership-controller"
      "--endpoints"
      (lib.concatStringsSep "," cfg.endpoints)
      "--prefix"
      cfg.prefix
      "--config"
      "${configFile}"
      "--lease-ttl"
      (toString cfg.leaseTtl)
      "--workers"
      (toString cfg.workers)
      "--resync-period"
      cfg.resyncPeriod
      "--metrics-addr"
      cfg.metricsAddr
      "--log-level"
      cfg.logLevel
      "--state-dir"
      stateDir
    ]
    ++ optionals (cfg.identity != null) [
      "--identity"
      cfg.identity
    ]
    ++ secrets.args
    ++ cfg.extraArgs;
in
{
  options.services.membership-controller = {
    enable = mkEnableOption "the PhotonCloud membership controller";

    # pkgs.photoncloud-membership comes from nix/overlay.nix (applied by nix/modules/default.nix).
    package = lib.mkPackageOption pkgs "photoncloud-membership" { };

    endpoints = mkOption {
      type = types.listOf types.str;
      example = [
        "https://10.0.1.10:2379"
        "https://10.0.1.11:2379"
        "https://10.0.1.12:2379"
      ];
      description = "Chainfire endpoints (`--endpoints`): URLs or host:port (https when a TLS file is set).";
    };

    prefix = mkOption {
      type = types.str;
      default = "/photoncloud/membership/v1";
      description = "Key prefix of the membership records (`--prefix`).";
    };

    tls = tlsOptions;

    auth = connection.authOptions {
      userExample = "membership-controller";
      passwordFile.description = "File holding the etcd password (`--password-file`), handed over by LoadCredential=: root's file, mode 0600.";
    };

    identity = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Name in the leader election; null: hostname/pid.";
    };

    leaseTtl = mkOption {
      type = types.ints.positive;
      default = 10;
      description = "Leader lease TTL in seconds; a standby takes over within this after a crash.";
    };

    workers = mkOption {
      type = types.ints.positive;
      default = 32;
      description = "Concurrent reconciles (Chainfire and FlareDB changes stay one at a time; concurrent status writes share transactions).";
    };

    heapLimitMiB = mkOption {
      type = types.ints.positive;
      default = 256;
      description = ''
        V8 old-space limit (NODE_OPTIONS=--max-old-space-size). Without it V8 lets garbage grow the heap
        well past the live data during a mass join: 10,000 nodes peaked at about 280 MiB RSS without a
        limit and 175 MiB with 256, for about 65 MiB of live heap (docs/benchmarks.md). Raise it by about
        64 MiB per 10,000 NodeMemberships beyond 20,000.
      '';
    };

    resyncPeriod = mkOption {
      type = types.str;
      default = "30s";
      description = "How often every record is reconciled again (`--resync-period`): a Go duration such as 30s, 1m30s or 2h.";
    };

    metricsAddr = mkOption {
      type = types.str;
      default = "127.0.0.1:9477";
      description = ''Where /metrics, /healthz and /readyz are served ("off" to disable).'';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open metricsAddr's TCP port in the firewall, for a Prometheus on another host (metricsAddr must
        then listen on an address that host reaches, e.g. "0.0.0.0:9477").
      '';
    };

    settings = mkOption {
      type = settingsFormat.type;
      default = { };
      example = lib.literalExpression ''
        {
          snapshots.timeoutSeconds = 600;
          flaredb.allowedLeaderHosts = [ "flaredb-4.example" ];
        }
      '';
      description = ''
        The configuration file (docs/controller-config.md) as Nix, merged over what the options of this
        module give; for the fields they do not cover. It is written to the Nix store: name secrets by
        their file only (the options above hand theirs over as credentials).
      '';
    };

    logLevel = connection.logLevelOption {
      description = "Log level.";
      extraLevels = [ "silent" ];
    };

    callTimeoutMs = mkOption {
      type = types.ints.between 100 600000;
      default = 5000;
      description = "Deadline of every etcd call (chainfire.callTimeoutMs in the configuration file).";
    };

    snapshots = {
      dir = mkOption {
        type = types.str;
        default = "${stateDir}/snapshots";
        description = ''
          Where a snapshot of Chainfire is written before each of its membership changes (add learner,
          promote, remove). A directory outside ${stateDir} is made writable with ReadWritePaths=; it must
          exist (owned by the controller's user, mode 0700).
        '';
      };
      onFailure = mkOption {
        type = types.enum [
          "refuse"
          "warn"
        ];
        default = "refuse";
        description = ''
          refuse: a change whose snapshot cannot be written waits (ChainfireMember=False/SnapshotFailed) and is
          retried; warn: it goes on without one, logged at WARN.
        '';
      };
      maxCount = mkOption {
        type = types.ints.positive;
        default = 10;
        description = "Snapshots kept at most (the newest).";
      };
      maxBytes = mkOption {
        type = types.ints.positive;
        default = 1073741824;
        description = "Bytes all snapshots together may take (1 GiB); the oldest go first.";
      };
      minFreeBytes = mkOption {
        type = types.ints.unsigned;
        default = 1073741824;
        description = "Bytes the filesystem must keep free with a new snapshot written (1 GiB); otherwise it counts as full.";
      };
    };

    flaredb = mkOption {
      type = types.nullOr (types.submodule { options = httpServiceOptions; });
      default = null;
      description = "FlareDB's admin API; null: FlareDB membership is not reconciled.";
    };

    iam = mkOption {
      type = types.nullOr (
        types.submodule {
          options = httpServiceOptions // {
            adminSecretFile = mkOption {
              type = types.str;
              description = ''File with the initial admin user and password, `{"user": "...", "password": "..."}`; handed over by LoadCredential= (root's file, mode 0600).'';
            };
          };
        }
      );
      default = null;
      description = "IAM's admin API; null: IAM registration is not reconciled.";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "More command-line arguments.";
    };

    user = mkOption {
      type = types.str;
      default = "membership-controller";
      description = "System user the controller runs as; it owns the state directory (the snapshots). The secrets reach it as credentials.";
    };

    group = mkOption {
      type = types.str;
      default = "membership-controller";
      description = "System group of that user.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.endpoints != [ ];
        message = "services.membership-controller.endpoints: name at least one Chainfire endpoint.";
      }
      {
        assertion = !cfg.openFirewall || metricsPort != null;
        message = "services.membership-controller.openFirewall: metricsAddr (${cfg.metricsAddr}) names no port to open.";
      }
    ]
    ++ connection.assertions "membership-controller" cfg;

    warnings = optionals (cfg.openFirewall && builtins.match "(127[.][0-9.]+|localhost|[[]::1[]]):[0-9]+" cfg.metricsAddr != null) [
      "services.membership-controller.openFirewall opens port ${toString metricsPort}, but metricsAddr ${cfg.metricsAddr} listens on loopback only"
    ];

    # membershipctl (and the other programs) for operators.
    environment.systemPackages = [ cfg.package ];

    networking.firewall.allowedTCPPorts = optionals (cfg.openFirewall && metricsPort != null) [ metricsPort ];

    users.users = mkIf (cfg.user == "membership-controller") {
      membership-controller = {
        isSystemUser = true;
        group = cfg.group;
        description = "PhotonCloud membership controller";
      };
    };
    users.groups = mkIf (cfg.group == "membership-controller") { membership-controller = { }; };

    systemd.services.membership-controller = {
      description = "PhotonCloud membership controller";
      wants = [ "network-online.target" ];
      after = [
        "network-online.target"
        "chainfire.service"
      ];
      wantedBy = [ "multi-user.target" ];
      environment.NODE_OPTIONS = "--max-old-space-size=${toString cfg.heapLimitMiB}";
      # Sandbox (lib/hardening.nix): the controller talks to the network, reads its files and its
      # credentials, and writes only its snapshots.
      serviceConfig =
        hardening.serviceConfig { }
        // {
          Type = "simple";
          ExecStart = connection.execStart utils args secrets.credentials;
          # The secrets, copied by systemd (as root) into the unit's credentials directory, readable by
          # the controller's user alone.
          LoadCredential = connection.loadCredential (secrets.credentials ++ fileCredentials);
          # SIGTERM resigns leadership so that a standby takes over at once.
          KillSignal = "SIGTERM";
          TimeoutStopSec = "30s";
          Restart = "on-failure";
          RestartSec = "5s";
          # usage and configuration errors (a loose key mode, say) need a person
          RestartPreventExitStatus = "64 78";

          # A fixed user, the owner of the state directory and its snapshots.
          User = cfg.user;
          Group = cfg.group;
          DynamicUser = false;
          ProtectProc = "invisible";
          RemoveIPC = true;
          # /var/lib/membership-controller: the snapshots of Chainfire (snapshots.dir), mode 0700.
          StateDirectory = "membership-controller";
          StateDirectoryMode = "0700";
        }
        // optionalAttrs (!lib.hasPrefix "${stateDir}/" "${cfg.snapshots.dir}/") {
          # "-": a directory that does not exist is no reason not to start (the snapshot then fails, saying why).
          ReadWritePaths = [ "-${cfg.snapshots.dir}" ];
        };
    };
  };
}
