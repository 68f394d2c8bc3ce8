import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/fresh-clone.js";

/** The repository's Markdown pages: the README, docs/, bench/ and the client's README. */
function markdownPages(): string[] {
  const docs = readdirSync(join(repoRoot, "docs")).filter((name) => name.endsWith(".md")).map((name) => join(repoRoot, "docs", name));
  return [join(repoRoot, "README.md"), join(repoRoot, "bench", "README.md"), join(repoRoot, "clients", "typescript", "README.md"), ...docs];
}

/** A page's text outside fenced code blocks and inline code, where a link is a link. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of text.replace(/^```[\s\S]*?^```/gm, "").matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const slug = match[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

/** Every relative link of a page, as `page: target` when it does not resolve. */
function brokenLinks(page: string): string[] {
  const broken: string[] = [];
  const text = readFileSync(page, "utf8");
  for (const match of prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1]!;
    if (/^(https?:|mailto:)/.test(target)) continue;
    const [file, anchor] = target.split("#") as [string, string | undefined];
    const resolved = file === "" ? page : join(dirname(page), decodeURIComponent(file));
    const name = `${relative(repoRoot, page)}: ${target}`;
    if (!existsSync(resolved)) broken.push(name);
    else if (anchor !== undefined) {
      const isPage = statSync(resolved).isFile() && resolved.endsWith(".md");
      if (!isPage || !headingAnchors(readFileSync(resolved, "utf8")).has(anchor)) broken.push(name);
    }
  }
  return broken;
}

describe("documentation links", () => {
  it("computes GitHub's heading anchors", () => {
    expect([...headingAnchors("# Protocol behaviour: compression, deadlines, errors\n## Web console (`/ui`)\n## A\n## A\n")])
      .toEqual(["protocol-behaviour-compression-deadlines-errors", "web-console-ui", "a", "a-1"]);
  });

  it("every relative link and anchor in README.md, docs/ and bench/ resolves", () => {
    const pages = markdownPages();
    expect(pages.length).toBeGreaterThan(10);
    expect(pages.flatMap(brokenLinks)).toEqual([]);
  });

  it("the README maps every page in docs/", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const unmapped = readdirSync(join(repoRoot, "docs")).filter((name) => name.endsWith(".md") && !readme.includes(`](docs/${name}`));
    expect(unmapped).toEqual([]);
  });

  it("no page points outside the repository", () => {
    const outside = markdownPages().filter((page) => /\.\.\/shared|\/work\/shared/.test(readFileSync(page, "utf8")));
    expect(outside.map((page) => relative(repoRoot, page))).toEqual([]);
  });
});
