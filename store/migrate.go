package store

import (
	"encoding/binary"
	"fmt"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
)

// currentSchema is the schema this build writes. It is a variable only so
// that tests can pretend to be a newer build.
var currentSchema uint32 = 2

// A migration moves a database from schema from to from+1, inside the
// transaction that [Open] runs all pending migrations in.
//
// [OpenReadOnly] never migrates: it reads an older database as it is. A
// migration that changes how something is read must teach the readers the
// old layout too, or make OpenReadOnly refuse the old schema.
type migration struct {
	from uint32
	name string
	fn   func(tx *bolt.Tx) error
}

// migrations are applied in order; each one's from is the previous one's
// from+1, and the last one's from+1 is currentSchema. Every migration has
// a test (migrate_test.go fails when one has none).
var migrations = []migration{
	{from: 1, name: "encoding version 2", fn: func(*bolt.Tx) error {
		// Records and heads of encoding version 2 carry a typed cause,
		// boots of version 2 the daemon's version, the host's boot id and
		// name; values of version 1 stay as they are and read as before.
		// Nothing is rewritten: the schema says that the file may now hold
		// values a build of schema 1 cannot decode, so that such a build
		// refuses it as newer (ErrNewerSchema) rather than as damaged.
		return nil
	}},
}

// readSchema reads the schema version. fresh is true for a bbolt file with
// no buckets at all, the state of a file bbolt just created. A bbolt file
// with buckets but no lifeline schema is not ours; a newer schema is not
// this build's.
func readSchema(tx *bolt.Tx) (schema uint32, fresh bool, err error) {
	meta := tx.Bucket(bucketKeyMeta)
	if meta == nil {
		fresh = true
		err = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			fresh = false
			return fmt.Errorf("bucket %q and no %s bucket: %w", name, bucketKeyMeta, ErrNotDatabase)
		})
		return 0, fresh, err
	}
	v := meta.Get(bucketKeySchema)
	if len(v) != 4 {
		return 0, false, &CorruptError{Bucket: "meta", Key: bucketKeySchema, Reason: fmt.Sprintf("schema value is %d bytes, want 4", len(v))}
	}
	schema = binary.BigEndian.Uint32(v)
	if schema > currentSchema {
		return schema, false, fmt.Errorf("schema %d, this build knows up to %d: %w", schema, currentSchema, ErrNewerSchema)
	}
	return schema, false, nil
}

func putSchema(tx *bolt.Tx, schema uint32) error {
	meta, err := getBucket(tx, bucketKeyMeta)
	if err != nil {
		return err
	}
	return meta.Put(bucketKeySchema, binary.BigEndian.AppendUint32(nil, schema))
}

// initSchema lays out a new file at the current schema.
func initSchema(tx *bolt.Tx) error {
	if err := createTopBuckets(tx); err != nil {
		return fmt.Errorf("create buckets: %w", err)
	}
	return putSchema(tx, currentSchema)
}

// migrate runs, in tx, every migration from schema up to currentSchema,
// and records the new schema. An error rolls all of them back.
func migrate(tx *bolt.Tx, schema uint32, log zerolog.Logger) error {
	for _, m := range migrations {
		if m.from < schema {
			continue
		}
		if m.from >= currentSchema {
			break
		}
		if m.from != schema {
			return fmt.Errorf("no migration from schema %d (next is %q from %d)", schema, m.name, m.from)
		}
		if err := m.fn(tx); err != nil {
			return fmt.Errorf("migration %q from schema %d: %w", m.name, m.from, err)
		}
		log.Info().Uint32("from", m.from).Str("migration", m.name).Msg("store migrated")
		schema++
	}
	if schema != currentSchema {
		return fmt.Errorf("no migration from schema %d to %d", schema, currentSchema)
	}
	return putSchema(tx, schema)
}
