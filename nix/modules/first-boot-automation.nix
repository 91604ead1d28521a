# First-boot automation: the seed's four oneshot units, now running
# first-boot-agent. The agent validates cluster-config.json, waits for the
# local service, publishes its report to Chainfire and blocks on its status
# record until the membership controller has made the node a member.
#
#   imports = [ ./nix/modules ];   # both modules and nix/overlay.nix
#   services.first-boot-automation = {
#     enable = true;
#     configFile = "/etc/nixos/secrets/cluster-config.json";
#     endpoints = [ "https://10.0.1.10:2379" "https://10.0.1.11:2379" "https://10.0.1.12:2379" ];
#     tls = {
#       caFile = "/etc/nixos/secrets/ca.crt";
#       certFile = "/etc/nixos/secrets/node04.crt";
#       keyFile = "/etc/nixos/secrets/node04.key";
#     };
#   };
#
# The key and the password files are handed to the agent as systemd
# credentials (LoadCredential=): they stay root's files, mode 0600. The units
# run sandboxed (lib/hardening.nix): they write only the state directory, may
# read the services' data directories and TLS files (CAP_DAC_READ_SEARCH), and
# the Chainfire join may start chainfire.service (CAP_SYS_ADMIN, which systemd
# before 255 asks of root for that).
#
# Exit codes of the agent: 0 done (or already done: a marker exists), 64
# usage, 65 rejected by the controller, 69 timed out or unavailable, 78 bad
# configuration. systemd retries 69 (Restart=on-failure) and never 64, 65 or
# 78: those need a person to fix the config or the record first.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.services.first-boot-automation;
  connection = import ./lib/connection-options.nix { inherit lib; };
  hardening = import ./lib/hardening.nix { inherit lib; };
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    optionals
    types
    ;

  agent = "${cfg.package}/bin/first-boot-agent";
  # systemd creates the default state dir (StateDirectory=, mode 0700); another one is made by
  # systemd-tmpfiles and made writable with ReadWritePaths=.
  stateDirName = "first-boot-automation";
  defaultStateDir = cfg.stateDir == "/var/lib/${stateDirName}";
  # The key and the password file, as credentials of every agent unit.
  secrets = connection.tlsAuthArgs cfg;
  scheme = if cfg.tls.caFile != null then "https" else "http";

  # Flags every subcommand understands.
  connectionArgs =
    [
      "--config"
      cfg.configFile
    ]
    ++ optionals (cfg.endpoints != [ ]) [
      "--endpoints"
      (lib.concatStringsSep "," cfg.endpoints)
    ]
    ++ secrets.args
    ++ [
      "--log-level"
      cfg.logLevel
    ];

  # Flags of the subcommands that wait (join, iam-setup).
  waitArgs = [
    "--state-dir"
    cfg.stateDir
    "--timeout"
    "${toString cfg.timeout}s"
    "--health-timeout"
    "${toString cfg.healthTimeout}s"
  ];

  # Where the local service keeps its data: the agent reports whether it holds data (`--data-dir`).
  dataDirArgs = dir: [
    "--data-dir"
    dir
  ];

  localUrlArgs =
    port:
    optionals (port != null) [
      "--local-url"
      "${scheme}://${cfg.localAddress}:${toString port}"
    ];

  # One oneshot unit running the agent, as the seed's units ran their scripts.
  #   writesStateDir: cfg.stateDir (markers, the member id, the join's env file); otherwise the
  #     default state dir only (health-check removes a recovery's leftover env file there)
  #   startsServices: asks the systemd manager to start a unit (systemctl start chainfire.service)
  agentUnit =
    {
      description,
      after,
      before ? [ ],
      requires ? [ ],
      args,
      remainAfterExit,
      writesStateDir ? true,
      startsServices ? false,
    }:
    let
      ownStateDir = !writesStateDir || defaultStateDir;
    in
    {
      inherit description before requires;
      after = [ "network-online.target" ] ++ after;
      wants = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
      serviceConfig =
        # CAP_DAC_READ_SEARCH: the services' data directories and TLS files, which their own users may
        # own (mode 0700/0600). CAP_SYS_ADMIN: systemd before 255 lets root start units over its private
        # socket only with it (newer ones go by uid 0).
        hardening.serviceConfig {
          capabilities = [ "CAP_DAC_READ_SEARCH" ] ++ optionals startsServices [ "CAP_SYS_ADMIN" ];
        }
        // {
          Type = "oneshot";
          RemainAfterExit = remainAfterExit;
          ExecStart = connection.execStart utils ([ agent ] ++ args) secrets.credentials;
          LoadCredential = connection.loadCredential secrets.credentials;
          Restart = "on-failure";
          RestartSec = "15s";
          # usage, rejected by the controller, bad configuration: retrying cannot help
          RestartPreventExitStatus = "64 65 78";
          # The agent bounds its own waits; this only catches a hung process.
          TimeoutStartSec = "${toString (cfg.timeout + cfg.healthTimeout + 60)}s";
          # ProtectSystem=strict: the state directory is the one place the agent writes.
          StateDirectory = mkIf ownStateDir stateDirName;
          StateDirectoryMode = mkIf ownStateDir "0700";
          ReadWritePaths = mkIf (!ownStateDir) [ cfg.stateDir ];
        };
    };
in
{
  options.services.first-boot-automation = {
    enable = mkEnableOption "first-boot cluster join of Chainfire, FlareDB and IAM through the membership controller";

    # pkgs.photoncloud-membership comes from nix/overlay.nix (applied by nix/modules/default.nix).
    package = lib.mkPackageOption pkgs "photoncloud-membership" { };

    configFile = mkOption {
      type = types.str;
      default = "/etc/nixos/secrets/cluster-config.json";
      description = "This node's cluster-config.json (the seed's format). Keep it mode 0600.";
    };

    enableChainfire = mkOption {
      type = types.bool;
      default = true;
      description = "Run chainfire-cluster-join.service.";
    };

    enableFlareDB = mkOption {
      type = types.bool;
      default = true;
      description = "Run flaredb-cluster-join.service.";
    };

    enableIAM = mkOption {
      type = types.bool;
      default = true;
      description = "Run iam-initial-setup.service.";
    };

    enableHealthCheck = mkOption {
      type = types.bool;
      default = true;
      description = "Run cluster-health-check.service after the others.";
    };

    chainfirePort = mkOption {
      type = types.nullOr types.port;
      default = null;
      example = 2379;
      description = ''
        Port of the local Chainfire API for the join's local health check
        (`--local-url <scheme>://<localAddress>:<port>`). null: the client URL
        that cluster-config.json gives (services.chainfire.client_url, or
        node_ip and port 2379).
      '';
    };

    flaredbPort = mkOption {
      type = types.nullOr types.port;
      default = null;
      example = 2479;
      description = ''
        Port of the local FlareDB API for the join's local health check. null:
        the API URL that cluster-config.json gives.
      '';
    };

    chainfireDataDir = mkOption {
      type = types.str;
      default = "/var/lib/chainfire";
      description = ''
        The local Chainfire's data directory (`--data-dir` of `join chainfire`
        and `reset chainfire`). The agent reports whether it holds data
        (`<dir>/member` exists), so that the controller tells a reprovisioned
        node from a restarted one: it must be the directory etcd runs on.
      '';
    };

    flaredbDataDir = mkOption {
      type = types.str;
      default = "/var/lib/flaredb";
      description = ''
        The local FlareDB's data directory (`--data-dir` of `join flaredb` and
        `reset flaredb`); the agent reports whether it is empty.
      '';
    };

    localAddress = mkOption {
      type = types.str;
      default = "localhost";
      description = ''
        Host for the local health checks when chainfirePort or flaredbPort is
        set. With TLS, the service's certificate must name it.
      '';
    };

    timeout = mkOption {
      type = types.ints.positive;
      default = 600;
      description = "Seconds a join waits for the controller (`--timeout`); then the agent exits 69 and systemd retries.";
    };

    healthTimeout = mkOption {
      type = types.ints.positive;
      default = 120;
      description = "Seconds to wait for the local service to be healthy (`--health-timeout`).";
    };

    stateDir = mkOption {
      type = types.str;
      default = "/var/lib/first-boot-automation";
      description = "Where the marker files (.chainfire-joined, ...) live.";
    };

    endpoints = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "https://10.0.1.10:2379"
        "https://10.0.1.11:2379"
      ];
      description = "Chainfire endpoints (`--endpoints`): URLs or host:port (https when a TLS file is set). Empty: the config's leader_url.";
    };

    tls = connection.tlsOptions {
      caFile = {
        example = "/etc/nixos/secrets/ca.crt";
        description = "CA that signed Chainfire's server certificate (`--cacert`). null: the config's tls.ca_file.";
      };
      certFile = {
        example = "/etc/nixos/secrets/node04.crt";
        description = "This node's client certificate (`--cert`).";
      };
      keyFile = {
        example = "/etc/nixos/secrets/node04.key";
        description = "Its private key (`--key`), handed over by LoadCredential=: root's file, mode 0600.";
      };
    };

    auth = connection.authOptions {
      userExample = "membership-agent-node04";
      passwordFile = {
        example = "/etc/nixos/secrets/membership-agent.password";
        description = "File holding that user's password (`--password-file`, handed over by LoadCredential=: it may stay root's, mode 0600); never put the password in the Nix store.";
      };
    };

    logLevel = connection.logLevelOption { description = "Log level of the agent's JSON lines."; };

    # Reboots that wait for their turn: `systemctl start membership-reboot` (or system.autoUpgrade, below)
    # acquires a planned disruption first, so that no two voters reboot at once and Chainfire keeps its quorum.
    rebootGuard = {
      enable = mkEnableOption "membership-reboot.service: acquire a planned disruption (membershipctl disruption acquire --wait), then reboot; the health-check unit releases it after the boot";
      node = mkOption {
        type = types.str;
        default = "";
        example = "node02";
        description = "This node's name (its NodeMembership), as in cluster-config.json's node_id.";
      };
      reason = mkOption {
        type = types.str;
        default = "reboot";
        description = "The reason other operators see in `membershipctl disruption list`.";
      };
      ttl = mkOption {
        type = types.str;
        default = "30m";
        description = "How long the node expects to be down (`--ttl`); overdue (alert) after it, gone after twice it.";
      };
      wait = mkOption {
        type = types.str;
        default = "2h";
        description = "How long to wait for its turn (`--wait`); the unit fails (and does not reboot) after it.";
      };
      user = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "membership-operator";
        description = "Chainfire user allowed to acquire disruptions (the operator role of `membershipctl rbac apply`).";
      };
      passwordFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "File holding that user's password.";
      };
      afterAutoUpgrade = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Reboot through membership-reboot.service after system.autoUpgrade built a system with another kernel,
          initrd or kernel modules (leave system.autoUpgrade.allowReboot false: its own reboot would not wait).
        '';
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = connection.assertions "first-boot-automation" cfg ++ [
      {
        assertion = !cfg.rebootGuard.enable || (cfg.rebootGuard.node != "" && (cfg.rebootGuard.user == null) == (cfg.rebootGuard.passwordFile == null));
        message = "services.first-boot-automation.rebootGuard: node must name this node, and user and passwordFile come together";
      }
      {
        assertion = !cfg.rebootGuard.afterAutoUpgrade || !(config.system.autoUpgrade.allowReboot or false);
        message = "services.first-boot-automation.rebootGuard.afterAutoUpgrade needs system.autoUpgrade.allowReboot = false (its reboot would not wait for its turn)";
      }
    ];

    # first-boot-agent (reset, recover), membershipctl and membership-controller for operators.
    environment.systemPackages = [ cfg.package ];

    # A state directory other than the default: made (root's, 0700) before the units run.
    systemd.tmpfiles.rules = optionals (!defaultStateDir) [ "d ${cfg.stateDir} 0700 root root -" ];

    systemd.services = {
      chainfire-cluster-join = mkIf cfg.enableChainfire (agentUnit {
        description = "Join the Chainfire cluster on first boot";
        after = [ "chainfire.service" ];
        before = [ "flaredb-cluster-join.service" ];
        args = [
          "join"
          "chainfire"
        ]
        ++ connectionArgs
        ++ waitArgs
        ++ dataDirArgs cfg.chainfireDataDir
        ++ localUrlArgs cfg.chainfirePort;
        remainAfterExit = true;
        startsServices = true;
      });

      flaredb-cluster-join = mkIf cfg.enableFlareDB (agentUnit {
        description = "Join the FlareDB cluster after Chainfire";
        after = [
          "chainfire-cluster-join.service"
          "flaredb.service"
        ];
        requires = optionals cfg.enableChainfire [ "chainfire-cluster-join.service" ];
        args = [
          "join"
          "flaredb"
        ]
        ++ connectionArgs
        ++ waitArgs
        ++ dataDirArgs cfg.flaredbDataDir
        ++ localUrlArgs cfg.flaredbPort;
        remainAfterExit = true;
      });

      iam-initial-setup = mkIf cfg.enableIAM (agentUnit {
        description = "IAM initial setup and registration of this node";
        after = [
          "flaredb-cluster-join.service"
          "iam.service"
        ];
        args = [ "iam-setup" ] ++ connectionArgs ++ waitArgs;
        remainAfterExit = true;
      });

      cluster-health-check = mkIf cfg.enableHealthCheck (agentUnit {
        description = "Check cluster health on first boot";
        after = [
          "chainfire-cluster-join.service"
          "flaredb-cluster-join.service"
          "iam-initial-setup.service"
        ];
        args = [ "health-check" ] ++ connectionArgs;
        remainAfterExit = false;
        writesStateDir = false;
      });

      membership-reboot = mkIf cfg.rebootGuard.enable {
        description = "Reboot once Chainfire can spare this node (planned disruption)";
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        serviceConfig =
          let
            guardSecrets = connection.tlsAuthArgs (cfg // { auth = { inherit (cfg.rebootGuard) user passwordFile; }; });
          in
          # membershipctl only talks to Chainfire; systemctl reboot asks the systemd manager, which
          # before systemd 255 takes that from root only with CAP_SYS_ADMIN.
          hardening.serviceConfig { capabilities = [ "CAP_SYS_ADMIN" ]; }
          // {
            Type = "oneshot";
            # Waits (bounded) for its turn; fails without rebooting when none comes.
            ExecStart = connection.execStart utils (
              [
                "${cfg.package}/bin/membershipctl"
                "disruption"
                "acquire"
                cfg.rebootGuard.node
                "--reason"
                cfg.rebootGuard.reason
                "--ttl"
                cfg.rebootGuard.ttl
                "--wait"
                cfg.rebootGuard.wait
              ]
              ++ optionals (cfg.endpoints != [ ]) [
                "--endpoints"
                (lib.concatStringsSep "," cfg.endpoints)
              ]
              ++ guardSecrets.args
            ) guardSecrets.credentials;
            LoadCredential = connection.loadCredential guardSecrets.credentials;
            ExecStartPost = "/run/current-system/sw/bin/systemctl reboot";
          };
      };

      nixos-upgrade = mkIf (cfg.rebootGuard.enable && cfg.rebootGuard.afterAutoUpgrade) {
        # The reboot autoUpgrade would make with allowReboot, made through the guard, and only when the new
        # system boots another kernel, initrd or kernel modules than the running one.
        serviceConfig.ExecStartPost = [
          ("/bin/sh -c 'for f in kernel initrd kernel-modules; do "
            + "[ \"$$(readlink /run/booted-system/$$f)\" = \"$$(readlink /nix/var/nix/profiles/system/$$f)\" ] || "
            + "exec /run/current-system/sw/bin/systemctl start --no-block membership-reboot.service; done'")
        ];
      };
    };
  };
}
