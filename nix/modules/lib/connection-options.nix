# What first-boot-automation.nix and membership-controller.nix declare alike
# for their connection to Chainfire: the TLS files, the etcd user and the log
# level, with the flags and assertions that go with them. Names, types and
# defaults are fixed here; the texts that differ per module (descriptions,
# examples) are parameters.
#
#   connection = import ./lib/connection-options.nix { inherit lib; };
#   options.services.NAME = {
#     tls = connection.tlsOptions { caFile = { description = "..."; }; ... };
#     auth = connection.authOptions { ... };
#     logLevel = connection.logLevelOption { description = "..."; };
#   };
#   config.assertions = connection.assertions "NAME" cfg;
{ lib }:

let
  inherit (lib)
    mkOption
    optionalAttrs
    optionals
    types
    ;

  # A string that may be left unset (null); `example` only where one is given.
  nullableStr =
    {
      description,
      example ? null,
    }:
    mkOption (
      {
        type = types.nullOr types.str;
        default = null;
        inherit description;
      }
      // optionalAttrs (example != null) { inherit example; }
    );
in
{
  # tls.caFile, tls.certFile, tls.keyFile: each argument is
  # { description; example ? }.
  tlsOptions =
    {
      caFile,
      certFile,
      keyFile,
    }:
    {
      caFile = nullableStr caFile;
      certFile = nullableStr certFile;
      keyFile = nullableStr keyFile;
    };

  # auth.user (a user that `membershipctl rbac apply` makes) and
  # auth.passwordFile ({ description; example ? }).
  authOptions =
    {
      userExample,
      passwordFile,
    }:
    {
      user = nullableStr {
        example = userExample;
        description = "etcd user (`--user`), made by `membershipctl rbac apply`.";
      };
      passwordFile = nullableStr passwordFile;
    };

  # --log-level; extraLevels: what a program accepts beyond the four.
  logLevelOption =
    {
      description,
      extraLevels ? [ ],
    }:
    mkOption {
      type = types.enum (
        [
          "debug"
          "info"
          "warn"
          "error"
        ]
        ++ extraLevels
      );
      default = "info";
      inherit description;
    };

  # The flags of cfg.tls and cfg.auth, as both programs take them, with the
  # two secrets handed over as systemd credentials: the unit loads the key and
  # the password file (LoadCredential=, read by systemd as root) and the flags
  # name the copies in the unit's credentials directory (%d), so the files may
  # stay root's, mode 0600, whatever user the service runs as.
  #   args:        plain arguments (--cacert, --cert, --user)
  #   credentials: [ { flag; name; file; } ], see execStart and loadCredential
  tlsAuthArgs =
    cfg:
    {
      args =
        optionals (cfg.tls.caFile != null) [
          "--cacert"
          cfg.tls.caFile
        ]
        ++ optionals (cfg.tls.certFile != null) [
          "--cert"
          cfg.tls.certFile
        ]
        ++ optionals (cfg.auth.user != null) [
          "--user"
          cfg.auth.user
        ];
      credentials =
        optionals (cfg.tls.keyFile != null) [
          {
            flag = "--key";
            name = "key";
            file = cfg.tls.keyFile;
          }
        ]
        ++ optionals (cfg.auth.passwordFile != null) [
          {
            flag = "--password-file";
            name = "etcd-password";
            file = cfg.auth.passwordFile;
          }
        ];
    };

  # ExecStart= of a program's arguments (escaped, so no % or $ in them is
  # expanded) followed by its credential flags, each naming "%d/<name>" (not
  # escaped: systemd expands %d to the credentials directory).
  execStart =
    utils: args: credentials:
    lib.concatStringsSep " " (
      [ (utils.escapeSystemdExecArgs args) ]
      ++ map (c: "${utils.escapeSystemdExecArgs [ c.flag ]} \"%d/${c.name}\"") credentials
    );

  # LoadCredential= of those credentials.
  loadCredential = credentials: map (c: "${c.name}:${c.file}") credentials;

  # certFile and keyFile come together, and so do user and passwordFile;
  # name: the module's services.NAME.
  assertions = name: cfg: [
    {
      assertion = (cfg.tls.certFile == null) == (cfg.tls.keyFile == null);
      message = "services.${name}.tls: certFile and keyFile go together.";
    }
    {
      assertion = (cfg.auth.user == null) == (cfg.auth.passwordFile == null);
      message = "services.${name}.auth: user needs passwordFile (and passwordFile a user).";
    }
  ];
}
