import { constants } from 'node:fs';
import { access, lstat, readdir, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve, sep } from 'node:path';
import { badRequest } from '../errors.js';

/** A local file to upload, and the path it gets below the dataset's name. */
export interface LocalFile {
  /** Absolute path on this machine. */
  readonly path: string;
  /** `/`-separated path below the dataset: the file's name, or `<folder>/<path below it>`. */
  readonly relativeName: string;
  readonly bytes: number;
}

/** What the selection holds: the files, and the entries left out with the reason. */
export interface LocalSelection {
  readonly files: LocalFile[];
  readonly skipped: { path: string; reason: string }[];
}

/** The most files one upload takes (one job journal, one quota check, one listing in the panel). */
export const MAX_UPLOAD_FILES = 100_000;

/** `~/x` as the home of the user's server; other paths must be absolute. */
export function localPath(written: string, home: string = homedir()): string {
  if (written === '~') {
    return home;
  }
  if (written.startsWith('~/')) {
    return join(home, written.slice(2));
  }
  if (!isAbsolute(written)) {
    throw badRequest(
      `"${clip(written)}" is not a path dlaas can use: write an absolute path, or one that starts with ~/ for your home folder.`
    );
  }
  return resolve(written);
}

/**
 * The files of a selection of local files and folders, each with the name it gets below the
 * dataset: a chosen file its own name, a chosen folder's files `<folder>/<path below it>`
 * (walked recursively). Nothing is opened for writing; each file is checked readable. A symbolic
 * link is followed only when it leads to a file inside the chosen folder (never to a folder, so
 * no walk can loop or leave the selection); others are listed as skipped. Refused with a 400
 * sentence: a path that does not exist or cannot be read, two files with the same name, a
 * selection without files.
 */
export async function collectLocalFiles(
  written: readonly string[],
  home: string = homedir()
): Promise<LocalSelection> {
  const files: LocalFile[] = [];
  const skipped: { path: string; reason: string }[] = [];
  const add = async (path: string, relativeName: string): Promise<void> => {
    let bytes: number;
    try {
      await access(path, constants.R_OK);
      bytes = (await stat(path)).size;
    } catch {
      throw badRequest(
        `${path} cannot be read (no permission, or it went away). Make it readable, or leave it out of the upload.`
      );
    }
    files.push({ path, relativeName, bytes });
    if (files.length > MAX_UPLOAD_FILES) {
      throw badRequest(
        `The selection holds more than ${MAX_UPLOAD_FILES.toLocaleString('en')} files, more than one upload takes. Upload its folders one at a time.`
      );
    }
  };
  const walk = async (folder: string, root: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      throw badRequest(
        `The folder ${folder} cannot be read (no permission). Make it readable, or leave it out of the upload.`
      );
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(folder, entry.name);
      const name = `${prefix}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(path, root, name);
      } else if (entry.isFile()) {
        await add(path, name);
      } else if (entry.isSymbolicLink()) {
        const target = await realpath(path).catch(() => null);
        const inside = target !== null && target.startsWith(root + sep);
        const info = target === null ? null : await stat(target).catch(() => null);
        if (inside && info?.isFile()) {
          await add(path, name);
        } else {
          skipped.push({
            path,
            reason:
              target === null
                ? 'a link that leads nowhere'
                : info?.isDirectory()
                  ? 'a link to a folder (links to folders are not followed)'
                  : inside
                    ? 'a link to something that is not a file'
                    : 'a link that leads out of the chosen folder'
          });
        }
      } else {
        skipped.push({ path, reason: 'not a regular file (a socket, pipe or device)' });
      }
    }
  };
  for (const text of written) {
    const path = localPath(text, home);
    const info = await lstat(path).catch(() => null);
    if (info === null) {
      throw badRequest(`${path} does not exist. Check the path, or leave it out of the upload.`);
    }
    if (info.isDirectory()) {
      await walk(path, await realpath(path), basename(path));
    } else if (
      info.isFile() ||
      (info.isSymbolicLink() && (await stat(path).catch(() => null))?.isFile() === true)
    ) {
      // A file chosen by its own path (a link included): the user named it.
      await add(path, basename(path));
    } else {
      throw badRequest(
        `${path} is neither a file nor a folder. Choose files and folders to upload.`
      );
    }
  }
  if (files.length === 0) {
    throw badRequest(
      'There is nothing to upload: the chosen folders hold no files. Choose files, or folders that hold some.'
    );
  }
  const seen = new Map<string, string>();
  for (const file of files) {
    const other = seen.get(file.relativeName);
    if (other !== undefined) {
      throw badRequest(
        `${other} and ${file.path} would both be named "${clip(file.relativeName)}" in the dataset. Rename one of them, or upload them in two datasets.`
      );
    }
    seen.set(file.relativeName, file.path);
  }
  return { files, skipped };
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
