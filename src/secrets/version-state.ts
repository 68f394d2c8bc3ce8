/** The parts of a secret and a version that say whether the version can still be read. */
interface SecretSide {
  delete_version_after_seconds?: number | null;
}
interface VersionSide {
  created_at: Date;
  readable_until: Date | null;
  deleted_at?: Date | null;
  destroyed_at?: Date | null;
}

/**
 * Whether a version is gone, and since when: destroyed (its value wiped), deleted on its own
 * (undelete brings it back), past its secret's `delete_version_after`, or past a rotation's grace
 * period. `deletedAt` is null for a readable version. One rule for every API's reads.
 */
export function versionState(secret: SecretSide, version: VersionSide, now: Date): { deletedAt: Date | null; destroyed: boolean } {
  if (version.destroyed_at) return { deletedAt: version.deleted_at ?? version.destroyed_at, destroyed: true };
  if (version.deleted_at) return { deletedAt: version.deleted_at, destroyed: false };
  const after = secret.delete_version_after_seconds;
  if (after) {
    const expires = new Date(version.created_at.getTime() + after * 1000);
    if (expires <= now) return { deletedAt: expires, destroyed: false };
  }
  if (version.readable_until && version.readable_until <= now) return { deletedAt: version.readable_until, destroyed: false };
  return { deletedAt: null, destroyed: false };
}

/** True when the version can be read now. */
export function isReadable(secret: SecretSide, version: VersionSide, now: Date): boolean {
  return versionState(secret, version, now).deletedAt === null;
}
