// The error of a bad configuration (exit code 2). Its own file so that the CLI can recognise it
// without loading the configuration schema.
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
