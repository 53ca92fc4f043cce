// Package kratos holds no code: examples/kratos is the Ory Kratos v1.3.1
// configuration for callpass-kratos (kratos.yml, identity.schema.json and the
// webhook bodies in hooks/). The package exists so its tests can run the
// jsonnet templates and the configuration against a real Kratos.
package kratos
