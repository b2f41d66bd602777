package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	duck "github.com/duckdb/duckdb-go/v2"

	"github.com/event-grpc/event-grpc/internal/fault"
)

// Errors of the real DuckDB are classified like the other sinks': a
// conversion or constraint error (the row's data) is permanent, an I/O
// error transient — also when the Appender reports it from AppendRow,
// which hands DuckDB a full chunk of rows. On e066805 every AppendRow
// error was permanent, so a full disk during an append sent the batch
// towards the dead-letter queue.
func TestClassifyRealErrors(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("duckdb", filepath.Join(t.TempDir(), "c.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO t VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	real := func(q string, want duck.ErrorType) error {
		t.Helper()
		_, err := db.Exec(q)
		var de *duck.Error
		if !errors.As(err, &de) || de.Type != want {
			t.Fatalf("%s: %v, want a DuckDB error of type %v", q, err, want)
		}
		return err
	}
	conversion := real(`SELECT 'abc'::INTEGER`, duck.ErrorTypeConversion)
	constraint := real(`INSERT INTO t VALUES (1, 'b')`, duck.ErrorTypeConstraint)
	notNull := real(`INSERT INTO t VALUES (2, NULL)`, duck.ErrorTypeConstraint)
	io := real(`ATTACH '`+filepath.Join(t.TempDir(), "no-such-dir", "x.duckdb")+`' AS x`, duck.ErrorTypeIO)

	// An error of the driver itself from AppendRow: a value that does not
	// fit its column.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var castErr error
	if err := conn.Raw(func(dc any) error {
		app, err := duck.NewAppenderWithColumns(dc.(driver.Conn), "", "main", "t", []string{"id", "name"})
		if err != nil {
			return err
		}
		castErr = app.AppendRow("not a number", "x")
		return app.Close()
	}); err != nil {
		t.Fatal(err)
	}
	if castErr == nil {
		t.Fatal("appending a string to an INTEGER column succeeded")
	}

	for _, c := range []struct {
		name string
		got  error
		want fault.Kind
	}{
		{"conversion", classify(fmt.Errorf("duckdb: insert: %w", conversion)), fault.KindPermanent},
		{"primary key", classify(constraint), fault.KindPermanent},
		{"not null", classify(notNull), fault.KindPermanent},
		{"io", classify(io), fault.KindTransient},
		{"append: driver cast", appendErr(castErr), fault.KindPermanent},
		// What AppendRow returns when DuckDB fails a chunk: the driver's
		// wrapping around DuckDB's own error.
		{"append: io", appendErr(fmt.Errorf("database/sql/driver: could not append row: %w", io)), fault.KindTransient},
		{"append: constraint", appendErr(fmt.Errorf("database/sql/driver: could not append row: %w", constraint)), fault.KindPermanent},
		{"unknown", classify(errors.New("something else")), fault.KindTransient},
	} {
		var fe *fault.Error
		if !errors.As(c.got, &fe) || fe.Kind != c.want {
			t.Errorf("%s: %v classified %v, want %v (explicitly)", c.name, c.got, fault.KindOf(c.got), c.want)
		}
	}
}
