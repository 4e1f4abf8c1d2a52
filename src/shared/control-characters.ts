/**
 * C0 and C1 control characters and DEL: none belongs in a name or a setting a DBA types,
 * and a line break is how a second line would be slipped into a configuration file.
 */
export function firstControlCharacter(text: string): string | undefined {
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return character;
  }
  return undefined;
}

/** Each control character replaced by a space, for text that is only shown (a comment line). */
export function withoutControlCharacters(text: string): string {
  return [...text].map((character) => (firstControlCharacter(character) === undefined ? character : ' ')).join('');
}
