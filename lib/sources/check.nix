# Checks shared by the source adapters and the argument check; each returns a list of problems.
let
  inherit (builtins) attrNames filter isAttrs isList isString;
  util = import ../util.nix;
in
{
  unknownKeys = at: known: attrs:
    map (key: "${at}.${key} is not a known attribute; known: ${builtins.concatStringsSep ", " known}")
      (filter (key: !builtins.elem key known) (attrNames attrs));

  stringList = at: value:
    if !isList value then [ "${at} is a ${builtins.typeOf value}, give a list of strings" ]
    else if !builtins.all isString value then [ "${at} holds something that is not a string" ]
    else [ ];

  required = at: keys: attrs:
    map (key: "${at}.${key} is missing") (filter (key: !(attrs ? ${key})) keys);
}
