// Package config is the typed configuration tree: defaults, environment
// variables (the seed system's names), an optional `.env.<ENV>` file, the
// topology YAML, and Validate, which names every problem at once.
package config
